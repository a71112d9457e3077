"""Packaging of the one installed namespace (the rest of the metadata is in pyproject.toml).

The repository keeps the user's top-level folders (`sim/`, `hwconfigs/`, `workloads/`,
`kernels/`, `rtl_models/`, `reports/`); the distribution exposes only `attnsim`
(`attnsim.sim`, `attnsim.kernels`, ...), so installing attnsim never shadows the PyPI
packages called `kernels` or `reports`. Subpackages are found, not listed, so a new
folder under one of these needs no edit here.
"""

from setuptools import find_namespace_packages, setup

FOLDERS = ("sim", "hwconfigs", "workloads", "kernels", "rtl_models", "reports")

package_dir = {"attnsim": "attnsim", **{f"attnsim.{f}": f for f in FOLDERS}}
#: Data folders (``hwconfigs/targets``, ``kernels/measurements``) are found as namespace
#: packages so that ``package-data`` ships their YAML and CSV files.
EXCLUDE = ("*__pycache__*", "*.egg-info*", "*verilog*build*")


def _found(folder: str) -> list[str]:
    return [f"attnsim.{folder}.{p}" for p in find_namespace_packages(folder, exclude=EXCLUDE)]


packages = [
    "attnsim",
    *(f"attnsim.{p}" for p in find_namespace_packages("attnsim", exclude=EXCLUDE)),
]
for folder in FOLDERS:
    packages += [f"attnsim.{folder}", *_found(folder)]

setup(package_dir=package_dir, packages=packages)
