"""Deterministic float64 numerics: the same bits on every x86-64 machine, whatever its SIMD width, BLAS or libm.

The data stages store nothing that depends on BLAS or the CPU's vector width. numpy dispatches its transcendental
ufuncs (exp, log, log10, power, arctan2, arccos, ...) and its complex multiply and abs to different SIMD kernels per
CPU, and leaves others (float64 sin, cos) to the system libm, which glibc dispatches again (FMA or not); BLAS
(matmul, dot, einsum(optimize=True)) picks kernels and thread splits per CPU. What is left is exact by IEEE 754 on
every vector width: + - * / and sqrt (correctly rounded), comparisons, floor/rint, frexp and bit manipulation, and
compiled code without run-time dispatch that adds in a fixed order (scipy.ndimage.correlate1d, scipy.signal.upfirdn,
numpy's pairwise sums). Everything here is built from those: the elementary functions follow fdlibm's argument
reductions and polynomials (within about 1 ulp), the 3x3 products are written out, and the FFT is our own radix-2
one with our own twiddles.
"""
from __future__ import annotations

import math
from functools import cache

import numpy as np

# --- elementary functions (fdlibm: e_exp.c, e_log.c, k_sin.c, k_cos.c, s_atan.c) -------------------------------

_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10   # ln2_hi: 32 significant bits
_INV_LN2 = 1.44269504088896338700e+00
_INV_LN10 = 4.34294481903251816668e-01
_EXP_P = (1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05,
          -1.65339022054652515390e-06, 4.13813679705723846039e-08)
_LOG_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01,
           1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01)
_SQRT_HALF = 0.70710678118654752440
# pi/2 in three pieces (fdlibm's pio2_1, pio2_2, pio2_2t): n times either of the first two (32 significant bits at
# most) is exact for |n| < 2**21, so arguments up to about 1e6 reduce accurately
_PIO2 = (1.57079632673412561417e+00, 6.07710050630396597660e-11, 2.02226624879595063154e-21)
_TWO_OVER_PI = 6.36619772367581382433e-01
_SIN_S = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
          2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)
_COS_C = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
          -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)
_ATAN_HI = np.array([4.63647609000806093515e-01, 7.85398163397448278999e-01, 9.82793723247329054082e-01,
                     1.57079632679489655800e+00])
_ATAN_LO = np.array([2.26987774529616870924e-17, 3.06161699786838301793e-17, 1.39033110312309984516e-17,
                     6.12323399573676603587e-17])
_ATAN_T = (3.33333333333329318027e-01, -1.99999999998764832476e-01, 1.42857142725034663711e-01,
           -1.11111104054623557880e-01, 9.09088713343650656196e-02, -7.69187620504482999495e-02,
           6.66107313738753120669e-02, -5.83357013379057348645e-02, 4.97687799461593236017e-02,
           -3.65315727442169155270e-02, 1.62858201153657823623e-02)
PI = math.pi
DEG = math.pi / 180.0   # degrees -> radians: deg * DEG is one correctly rounded product on every machine


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _pow2(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2**k as two normal factors (k in [-2044, 2046]); multiplying by both is exact unless the result is subnormal."""
    k = k.astype(np.int64)
    a = k // 2
    return (((a + 1023) << 52).view(np.float64), ((k - a + 1023) << 52).view(np.float64))


def exp(x) -> np.ndarray:
    """e**x, within 1 ulp."""
    x = _f64(x)
    xc = np.clip(x, -746.0, 710.0)                     # beyond: 0 and inf, reached through the scaling below
    k = np.rint(xc * _INV_LN2)
    k = np.where(np.isnan(k), 0.0, k)
    hi = xc - k * _LN2_HI                              # k * _LN2_HI is exact: k has at most 11 bits
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    p1, p2, p3, p4, p5 = _EXP_P
    c = r - t * (p1 + t * (p2 + t * (p3 + t * (p4 + t * p5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    s1, s2 = _pow2(k)
    with np.errstate(over="ignore"):
        return np.where(np.isnan(x), np.nan, y * s1 * s2)


def log(x) -> np.ndarray:
    """Natural logarithm, within 1 ulp; -inf at 0, nan below."""
    x = _f64(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        m, e = np.frexp(np.where((x > 0) & np.isfinite(x), x, 1.0))   # x = m * 2**e, m in [0.5, 1): exact
        low = m < _SQRT_HALF
        m = np.where(low, m * 2.0, m)                  # m in [sqrt(1/2), sqrt(2))
        k = (e - low).astype(np.float64)
        f = m - 1.0                                    # exact (Sterbenz)
        s = f / (2.0 + f)
        z = s * s
        w = z * z
        g1, g2, g3, g4, g5, g6, g7 = _LOG_LG
        r = z * (g1 + w * (g3 + w * (g5 + w * g7))) + w * (g2 + w * (g4 + w * g6))
        hfsq = 0.5 * f * f
        y = k * _LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LN2_LO)) - f)
        y = np.where(x == 0, -np.inf, y)
        y = np.where(x == np.inf, np.inf, y)
        return np.where((x < 0) | np.isnan(x), np.nan, y)


def log10(x) -> np.ndarray:
    """Decimal logarithm, within 2 ulp."""
    return log(x) * _INV_LN10


def _kernel_sin(r: np.ndarray, z: np.ndarray) -> np.ndarray:
    s1, s2, s3, s4, s5, s6 = _SIN_S
    return r + (z * r) * (s1 + z * (s2 + z * (s3 + z * (s4 + z * (s5 + z * s6)))))


def _kernel_cos(z: np.ndarray) -> np.ndarray:
    c1, c2, c3, c4, c5, c6 = _COS_C
    p = z * (c1 + z * (c2 + z * (c3 + z * (c4 + z * (c5 + z * c6)))))
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + z * p)


def sincos(x) -> tuple[np.ndarray, np.ndarray]:
    """(sin x, cos x), within 1 ulp for |x| below about 1e6 (radians)."""
    x = _f64(x)
    bad = ~np.isfinite(x)
    x = np.where(bad, 0.0, x)
    n = np.rint(x * _TWO_OVER_PI)
    r = ((x - n * _PIO2[0]) - n * _PIO2[1]) - n * _PIO2[2]          # |r| <= pi/4 (a hair more)
    z = r * r
    s, c = _kernel_sin(r, z), _kernel_cos(z)
    q = n.astype(np.int64) & 3
    sin = np.where(q == 0, s, np.where(q == 1, c, np.where(q == 2, -s, -c)))
    cos = np.where(q == 0, c, np.where(q == 1, -s, np.where(q == 2, -c, s)))
    return np.where(bad, np.nan, sin), np.where(bad, np.nan, cos)


def sin(x) -> np.ndarray:
    return sincos(x)[0]


def cos(x) -> np.ndarray:
    return sincos(x)[1]


def atan(x) -> np.ndarray:
    """Arc tangent, within 1 ulp."""
    x = _f64(x)
    ax = np.abs(x)
    idx = np.searchsorted(np.array([7 / 16, 11 / 16, 19 / 16, 39 / 16]), ax, side="right") - 1   # -1 .. 3
    with np.errstate(divide="ignore", invalid="ignore"):
        xr = np.select([idx == 0, idx == 1, idx == 2, idx == 3],
                       [(2.0 * ax - 1.0) / (2.0 + ax), (ax - 1.0) / (ax + 1.0), (ax - 1.5) / (1.0 + 1.5 * ax),
                        -1.0 / ax], ax)
    z = xr * xr
    w = z * z
    t = _ATAN_T
    s1 = z * (t[0] + w * (t[2] + w * (t[4] + w * (t[6] + w * (t[8] + w * t[10])))))
    s2 = w * (t[1] + w * (t[3] + w * (t[5] + w * (t[7] + w * t[9]))))
    j = np.maximum(idx, 0)
    y = np.where(idx < 0, xr - xr * (s1 + s2), _ATAN_HI[j] - ((xr * (s1 + s2) - _ATAN_LO[j]) - xr))
    return np.where(np.isnan(x), np.nan, np.copysign(y, x))


def arccos(x) -> np.ndarray:
    """Arc cosine of x in [-1, 1], within 2 ulp: 2 atan(sqrt((1 - x) / (1 + x)))."""
    x = _f64(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2.0 * atan(np.sqrt((1.0 - x) / (1.0 + x)))


# --- 3-vectors and 3x3 matrices (BLAS would pick kernels and summation orders per CPU) ---------------------------

def dot3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a . b over the last axis (size 3), broadcast."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def norm3(v: np.ndarray) -> np.ndarray:
    return np.sqrt(dot3(v, v))


def matvec3(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """m (..., 3, 3) times v (..., 3), broadcast."""
    return m[..., 0] * v[..., None, 0] + m[..., 1] * v[..., None, 1] + m[..., 2] * v[..., None, 2]


def matmul3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (..., 3, 3) @ b (..., 3, 3), broadcast."""
    return a[..., :, 0:1] * b[..., 0:1, :] + a[..., :, 1:2] * b[..., 1:2, :] + a[..., :, 2:3] * b[..., 2:3, :]


# --- random numbers ---------------------------------------------------------------------------------------------

def standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal draws by Box-Muller from rng.random() (numpy's ziggurat calls libm's log1p and exp in its tails)."""
    n = math.prod(shape)
    m = (n + 1) // 2
    u = rng.random(2 * m)
    radius = np.sqrt(-2.0 * log(1.0 - u[:m]))            # 1 - u is exact and in (0, 1]
    s, c = sincos((2.0 * PI) * u[m:])
    return np.concatenate([radius * c, radius * s])[:n].reshape(shape)


# --- filters and resampling ---------------------------------------------------------------------------------------

def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy.ndimage's Gaussian kernel (radius int(truncate * sigma + 0.5), unit sum), with our exp."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = exp(-0.5 / (sigma * sigma) * (x * x))
    return phi / math.fsum(phi)


def gaussian_filter1d(x: np.ndarray, sigma: float, axis: int = -1, mode: str = "reflect") -> np.ndarray:
    """scipy.ndimage.gaussian_filter1d (float64) with a deterministic kernel; correlate1d adds in a fixed order."""
    from scipy.ndimage import correlate1d  # a fifth of a second to import; the window filters never need it

    return correlate1d(_f64(x), gaussian_kernel(sigma), axis=axis, mode=mode)


def _bessel_i0(x: np.ndarray) -> np.ndarray:
    """Modified Bessel function I0 by its power series (x <= 20: 60 terms reach float64 precision)."""
    q = (x * 0.5) * (x * 0.5)
    term = np.ones_like(x)
    total = np.ones_like(x)
    for k in range(1, 60):
        term = term * q / float(k * k)
        total = total + term
    return total


@cache
def _lowpass(up: int, down: int, passband: float, atten_db: float) -> np.ndarray:
    """Kaiser-windowed sinc low-pass at `up` x the input rate for an up/down polyphase resampler.

    The stop band starts at the lower of the two Nyquist frequencies, the pass band ends at `passband` of it; the
    length and the Kaiser beta follow Kaiser's formulas for `atten_db`. Unit DC gain.
    """
    stop = 0.5 / max(up, down)                      # cycles per sample at the upsampled rate
    width = stop * (1.0 - passband)
    n_taps = math.ceil((atten_db - 7.95) / (14.36 * width)) | 1
    half = (n_taps - 1) // 2
    beta = 0.1102 * (atten_db - 8.7)
    n = np.arange(-half, half + 1, dtype=np.float64)
    fc = stop * (1.0 + passband) / 2.0              # cut-off in the middle of the transition band
    arg = 2.0 * fc * n
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(n == 0, 1.0, sin(PI * arg) / (PI * arg))
    window = _bessel_i0(beta * np.sqrt(np.maximum(1.0 - (n / half) * (n / half), 0.0))) / _bessel_i0(np.array(beta))
    h = sinc * window
    h = h / math.fsum(h)
    h.flags.writeable = False
    return h


def resample(x: np.ndarray, sr_in: int, sr_out: int, passband: float = 0.875, atten_db: float = 80.0
             ) -> np.ndarray:
    """Band-limited resampling of a 1-D signal (float64) by a polyphase windowed-sinc filter.

    scipy.signal.resample_poly applies the filter with upfirdn (fixed-order sums, no run-time dispatch); the filter
    is our own (firwin would build it with numpy's dispatched sin and i0).
    """
    from scipy.signal import resample_poly  # scipy.signal takes a second to import; only speech needs it

    g = math.gcd(int(sr_in), int(sr_out))
    up, down = int(sr_out) // g, int(sr_in) // g
    if up == down:
        return _f64(x).copy()
    return resample_poly(_f64(x), up, down, window=_lowpass(up, down, passband, atten_db))


# --- spectra ----------------------------------------------------------------------------------------------------

@cache
def _twiddles(n: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of 2 pi j / n, j < n / 2."""
    c, s = cos((2.0 * PI / n) * np.arange(n // 2)), sin((2.0 * PI / n) * np.arange(n // 2))
    c.flags.writeable = s.flags.writeable = False
    return c, s


@cache
def _bit_reverse(n: int) -> np.ndarray:
    bits = n.bit_length() - 1
    idx = np.arange(n)
    rev = np.zeros(n, dtype=np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    rev.flags.writeable = False
    return rev


def hann(n: int) -> np.ndarray:
    """The periodic Hann window (scipy.signal.get_window('hann', n)): 0.5 - 0.5 cos(2 pi k / n)."""
    return 0.5 - 0.5 * cos((2.0 * PI / n) * np.arange(n))


def power_spectrum(frames: np.ndarray) -> np.ndarray:
    """|rfft(frames)|**2 along the last axis: (..., n) real -> (..., n // 2 + 1), n a power of two >= 4.

    A complex radix-2 FFT of the n / 2 even/odd sample pairs, then the real-input split. Real and imaginary parts are
    separate arrays, so every step is plain + - * (numpy's complex multiply and abs give different bits on AVX2 and
    SSE4.2 machines). Frames run along the last axis inside, so each step is one long vector operation.
    """
    x = _f64(frames)
    n = x.shape[-1]
    if n < 4 or n & (n - 1):
        raise ValueError(f"frame length must be a power of two >= 4, got {n}")
    lead, m = x.shape[:-1], n // 2
    x = x.reshape(-1, n)
    rows = x.shape[0]
    c, s = _twiddles(n)
    perm = _bit_reverse(m)
    zr, zi = np.ascontiguousarray(x[:, 2 * perm].T), np.ascontiguousarray(x[:, 2 * perm + 1].T)  # (m, rows)
    h = 1
    while h < m:
        groups = m // (2 * h)
        zr, zi = zr.reshape(groups, 2, h, rows), zi.reshape(groups, 2, h, rows)
        ar, ai, br, bi = zr[:, 0], zi[:, 0], zr[:, 1], zi[:, 1]
        if h > 1:                                                     # b *= exp(-2 pi i k / (2h)), k < h
            wr, wi = c[:: n // (2 * h)][:h, None], -s[:: n // (2 * h)][:h, None]
            br, bi = br * wr - bi * wi, br * wi + bi * wr
        nr, ni = np.empty_like(zr), np.empty_like(zi)
        np.add(ar, br, out=nr[:, 0])
        np.subtract(ar, br, out=nr[:, 1])
        np.add(ai, bi, out=ni[:, 0])
        np.subtract(ai, bi, out=ni[:, 1])
        zr, zi = nr.reshape(m, rows), ni.reshape(m, rows)
        h *= 2
    # X[k] = E[k] + exp(-2 pi i k / n) O[k] with E, O the spectra of the even and odd samples
    mirror = (-np.arange(m)) % m
    cr, ci = zr[mirror], zi[mirror]
    er, ei = (zr + cr) * 0.5, (zi - ci) * 0.5
    orr, oi = (zi + ci) * 0.5, (cr - zr) * 0.5
    wr, wi = c[:m, None], -s[:m, None]
    xr = er + (wr * orr - wi * oi)
    xi = ei + (wr * oi + wi * orr)
    power = np.empty((m + 1, rows))
    np.add(xr * xr, xi * xi, out=power[:m])
    last = er[0] - orr[0]                                             # X[n/2] is real
    power[m] = last * last
    return power.T.reshape(lead + (m + 1,))
