"""Packaging of the one installed namespace (the rest of the metadata is in pyproject.toml).

The repository keeps the user's top-level folders (`sim/`, `hwconfigs/`, `workloads/`,
`kernels/`, `rtl_models/`, `reports/`); the distribution exposes only `attnsim`
(`attnsim.sim`, `attnsim.kernels`, ...), so installing attnsim never shadows the PyPI
packages called `kernels` or `reports`. Subpackages are found, not listed, so a new
folder under one of these needs no edit here.
"""

from setuptools import find_packages, setup

FOLDERS = ("sim", "hwconfigs", "workloads", "kernels", "rtl_models", "reports")

package_dir = {"attnsim": "attnsim", **{f"attnsim.{f}": f for f in FOLDERS}}
packages = ["attnsim", *(f"attnsim.{p}" for p in find_packages("attnsim"))]
for folder in FOLDERS:
    packages += [f"attnsim.{folder}", *(f"attnsim.{folder}.{p}" for p in find_packages(folder))]

setup(package_dir=package_dir, packages=packages)
