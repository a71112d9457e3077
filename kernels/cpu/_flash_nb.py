"""numba bodies of the CPU flash-attention kernels (see ``kernels.cpu.flash`` for the API).

Scores are kept in base 2: queries are pre-scaled by ``scale * log2(e)`` so the softmax
uses ``2**(s - m)`` (:func:`exp2_f32`, vectorised). Both GEMMs of a tile go to OpenBLAS.
"""

from __future__ import annotations

import numpy as np
from attnsim.kernels.cpu._blas import NO_TRANS, ROW_MAJOR, SGEMM, TRANS
from attnsim.kernels.cpu._fastmath import exp2_f32
from numba import njit, prange

_FAST = {"reassoc", "contract", "nsz"}
_NEG_INF = np.float32(-np.inf)
_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)

MODE_RANGE = 1
MODE_BITMAP = 2


@njit(cache=True, fastmath=_FAST)
def _mask_range_row(srow, nk, k0, pos, left, right):  # type: ignore[no-untyped-def]
    """Set scores outside the live key interval [pos-left, pos+right] to -inf."""
    lo = pos - left - k0
    hi = pos + right - k0
    for j in range(nk):
        if j < lo or j > hi:
            srow[j] = _NEG_INF


@njit(cache=True, fastmath=_FAST)
def _mask_bitmap_row(srow, nk, bmrow):  # type: ignore[no-untyped-def]
    for j in range(nk):
        if bmrow[j] == 0:
            srow[j] = _NEG_INF


@njit(cache=True, fastmath=_FAST)
def _softmax_rows(s, nrows, nk, m, lsum, acc):  # type: ignore[no-untyped-def]
    """Online-softmax update of rows ``0..nrows`` with the score tile ``s[:, :nk]``.

    Replaces the scores by ``2**(s - m_new)``, rescales ``acc`` and ``lsum``.
    """
    dv = acc.shape[1]
    for i in range(nrows):
        srow = s[i]
        mx = _NEG_INF
        for j in range(nk):
            mx = max(mx, srow[j])
        m_new = max(m[i], mx)
        if m_new == _NEG_INF:  # nothing live in this row yet
            for j in range(nk):
                srow[j] = _ZERO
            continue
        alpha = exp2_f32(m[i] - m_new)
        total = _ZERO
        for j in range(nk):
            p = exp2_f32(srow[j] - m_new)
            srow[j] = p
            total += p
        lsum[i] = lsum[i] * alpha + total
        m[i] = m_new
        if alpha != _ONE:
            arow = acc[i]
            for d in range(dv):
                arow[d] *= alpha


@njit(cache=True)
def _scores(qs, nrows, kbh, k0, nk, s):  # type: ignore[no-untyped-def]
    """S = Qs K[k0:k0+nk]^T into ``s`` (no softmax)."""
    d = qs.shape[1]
    SGEMM(
        ROW_MAJOR, NO_TRANS, TRANS, nrows, nk, d, _ONE,
        qs.ctypes.data, d, kbh[k0:].ctypes.data, d, _ZERO, s.ctypes.data, s.shape[1],
    )  # fmt: skip


@njit(cache=True)
def _accumulate(s, nrows, nk, vbh, k0, acc):  # type: ignore[no-untyped-def]
    """acc[:nrows] += P[:nrows, :nk] V[k0:k0+nk]."""
    dv = acc.shape[1]
    SGEMM(
        ROW_MAJOR, NO_TRANS, NO_TRANS, nrows, dv, nk, _ONE,
        s.ctypes.data, s.shape[1], vbh[k0:].ctypes.data, dv, _ONE, acc.ctypes.data, dv,
    )  # fmt: skip


@njit(cache=True, parallel=True, fastmath=_FAST)
def flash_prefill(  # type: ignore[no-untyped-def]
    q, k, v, out, qscale, block_q, block_k,
    row_ptr, col_block, col_kind, mode, offset, left, right, tile_bitmap, bitmaps,
    worker_ptr, order,
):  # fmt: skip
    """One forward pass; tasks are (batch, head, query block), pre-assigned to workers."""
    n_b, n_hq, sq, d = q.shape
    n_hkv = k.shape[1]
    sk = k.shape[2]
    dv = v.shape[3]
    group = n_hq // n_hkv
    nqb = (sq + block_q - 1) // block_q
    n_workers = worker_ptr.shape[0] - 1
    for w in prange(n_workers):
        qs = np.empty((block_q, d), np.float32)
        s = np.empty((block_q, block_k), np.float32)
        acc = np.empty((block_q, dv), np.float32)
        m = np.empty(block_q, np.float32)
        lsum = np.empty(block_q, np.float32)
        for t_i in range(worker_ptr[w], worker_ptr[w + 1]):
            task = order[t_i]
            qb = task % nqb
            bh = task // nqb
            h = bh % n_hq
            b = bh // n_hq
            kbh = k[b, h // group]
            vbh = v[b, h // group]
            q0 = qb * block_q
            nq = min(block_q, sq - q0)
            qsrc = q[b, h]
            for i in range(nq):
                src = qsrc[q0 + i]
                dst = qs[i]
                for c in range(d):
                    dst[c] = src[c] * qscale
                m[i] = _NEG_INF
                lsum[i] = _ZERO
                arow = acc[i]
                for c in range(dv):
                    arow[c] = _ZERO
            for e in range(row_ptr[qb], row_ptr[qb + 1]):
                k0 = col_block[e] * block_k
                nk = min(block_k, sk - k0)
                _scores(qs, nq, kbh, k0, nk, s)
                if col_kind[e] == 1:
                    if mode == MODE_RANGE:
                        for i in range(nq):
                            _mask_range_row(s[i], nk, k0, q0 + i + offset, left, right)
                    elif mode == MODE_BITMAP:
                        bm = bitmaps[tile_bitmap[e]]
                        for i in range(nq):
                            _mask_bitmap_row(s[i], nk, bm[i])
                _softmax_rows(s, nq, nk, m, lsum, acc)
                _accumulate(s, nq, nk, vbh, k0, acc)
            dst_o = out[b, h]
            for i in range(nq):
                orow = dst_o[q0 + i]
                arow = acc[i]
                inv = _ONE / lsum[i] if lsum[i] > _ZERO else _ZERO
                for c in range(dv):
                    orow[c] = arow[c] * inv


@njit(cache=True, parallel=True, fastmath=_FAST)
def flash_decode_partial(  # type: ignore[no-untyped-def]
    q, k, v, qscale, block_k, split_ptr, col_block, col_kind,
    mode, offset, left, right, tile_bitmap, bitmaps, part_m, part_l, part_acc,
):  # fmt: skip
    """Split-KV pass: tasks are (batch, kv head, split); the ``group * sq`` query rows that
    share a KV head are stacked into one tile. Writes per-split (max, sum, unnormalised acc)."""
    n_b, n_hq, sq, d = q.shape
    n_hkv = k.shape[1]
    sk = k.shape[2]
    dv = v.shape[3]
    group = n_hq // n_hkv
    rows = group * sq
    n_split = split_ptr.shape[0] - 1
    n_tasks = n_b * n_hkv * n_split
    for task in prange(n_tasks):
        sp = task % n_split
        bh = task // n_split
        hk = bh % n_hkv
        b = bh // n_hkv
        qs = np.empty((rows, d), np.float32)
        s = np.empty((rows, block_k), np.float32)
        acc = part_acc[b, hk, sp]
        m = part_m[b, hk, sp]
        lsum = part_l[b, hk, sp]
        for r in range(rows):
            src = q[b, hk * group + r // sq, r % sq]
            dst = qs[r]
            for c in range(d):
                dst[c] = src[c] * qscale
            m[r] = _NEG_INF
            lsum[r] = _ZERO
            arow = acc[r]
            for c in range(dv):
                arow[c] = _ZERO
        kbh = k[b, hk]
        vbh = v[b, hk]
        for e in range(split_ptr[sp], split_ptr[sp + 1]):
            k0 = col_block[e] * block_k
            nk = min(block_k, sk - k0)
            _scores(qs, rows, kbh, k0, nk, s)
            if col_kind[e] == 1:
                if mode == MODE_RANGE:
                    for r in range(rows):
                        _mask_range_row(s[r], nk, k0, r % sq + offset, left, right)
                elif mode == MODE_BITMAP:
                    bm = bitmaps[tile_bitmap[e]]
                    for r in range(rows):
                        _mask_bitmap_row(s[r], nk, bm[r % sq])
            _softmax_rows(s, rows, nk, m, lsum, acc)
            _accumulate(s, rows, nk, vbh, k0, acc)


@njit(cache=True, parallel=True, fastmath=_FAST)
def flash_decode_reduce(part_m, part_l, part_acc, out):  # type: ignore[no-untyped-def]
    """Merge the splits: o = sum_s 2**(m_s - M) acc_s / sum_s 2**(m_s - M) l_s."""
    n_b, n_hkv, n_split, rows = part_m.shape
    dv = part_acc.shape[4]
    n_hq = out.shape[1]
    sq = out.shape[2]
    group = n_hq // n_hkv
    for bh in prange(n_b * n_hkv):
        hk = bh % n_hkv
        b = bh // n_hkv
        res = np.empty(dv, np.float32)
        for r in range(rows):
            mx = _NEG_INF
            for sp in range(n_split):
                mx = max(mx, part_m[b, hk, sp, r])
            orow = out[b, hk * group + r // sq, r % sq]
            if mx == _NEG_INF:
                for c in range(dv):
                    orow[c] = _ZERO
                continue
            for c in range(dv):
                res[c] = _ZERO
            total = _ZERO
            for sp in range(n_split):
                wgt = exp2_f32(part_m[b, hk, sp, r] - mx)
                total += wgt * part_l[b, hk, sp, r]
                arow = part_acc[b, hk, sp, r]
                for c in range(dv):
                    res[c] += wgt * arow[c]
            inv = _ONE / total
            for c in range(dv):
                orow[c] = res[c] * inv


@njit(cache=True, parallel=True)
def gemm_tiles(a, b, c, block_m, block_n):  # type: ignore[no-untyped-def]
    """C = A B, one BLAS call per (block_m x block_n) output tile, tiles in parallel."""
    m, kk = a.shape
    n = b.shape[1]
    nbm = (m + block_m - 1) // block_m
    nbn = (n + block_n - 1) // block_n
    for t in prange(nbm * nbn):
        i0 = (t // nbn) * block_m
        j0 = (t % nbn) * block_n
        mm = min(block_m, m - i0)
        nn = min(block_n, n - j0)
        SGEMM(
            ROW_MAJOR, NO_TRANS, NO_TRANS, mm, nn, kk, _ONE,
            a[i0:].ctypes.data, kk, b[0, j0:].ctypes.data, n, _ZERO, c[i0, j0:].ctypes.data, n,
        )  # fmt: skip
