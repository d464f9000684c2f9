"""Gradient flow followed to its end, region by region and face by face, for the
slides' network F(θ, x) = vᵀσ(W x̃) (v fixed).

**Inside a region.** With v fixed, F is linear in θ = [W | b] inside an activation
region (every unit's on/off state on the data fixed): F(θ, x_j) = J_j·θ with the
Jacobian row J_j = (v_i·1[θ_i·x̃_j > 0]·x̃_j)_i constant on the region. The loss
L(θ) = ‖Jθ − y‖²/(2n) is a quadratic there and gradient flow θ' = −∇L has a closed
form. With the thin SVD J = U S Vᵀ, r₀ = Jθ₀ − y, c = Uᵀr₀,

    θ(t) = θ₀ − Σ_m V_m (c_m/s_m)·w_m(t),     w_m(t) = 1 − exp(−s_m² t/n),
    r(t) = r₀ − Σ_m U_m c_m w_m(t),   L(t) = (Σ_m e^{−2 s_m² t/n} c_m² + Σ_{null m} c_m²)/(2n),

where the null directions are those with s_m ≤ rtol·s_1 (Figure 4's rank rule,
rtol = max(n, P)·eps₆₄): they are treated as exactly singular and do not move.

**On a face.** Where a unit's hyperplane sits on a data point (θ_i·x̃_j = 0) and the
flow pushes into it from both sides, gradient descent chatters across it (thousands of
sign flips of that pre-activation per few thousand steps; on d0 = 1 this is where most
runs spend their time) while gradient flow slides along it: Filippov's solution, whose
velocity is the convex combination −(∇L⁻ + α·∇(pair on)) of the two sides' gradients
that is tangent to the face. On the face relu(θ_i·x̃_j) = 0 whichever side, so L is
again a quadratic, now restricted to θ_i ⊥ x̃_j, and the sliding flow is its projected
gradient flow: the closed form above with J replaced by J̃ = J_off·Π (J_off: the face's
pairs off; Π_i the projector onto the orthogonal complement of unit i's face points).
The slide lasts while every face pair's α = −n·λ/(v_i r_j) stays in (0, 1), where λ
are the coefficients of ∇_i L⁻'s normal component on the face points.

**The certificate.** Every quantity that must keep its sign — the pre-activation of
every free pair, and q₁ = −λ, q₂ = v_i r_j/n + λ of every face pair — is an affine
function of r, hence value(t) = value(0) − Σ_m A_m w_m(t) with each w_m increasing. On
an interval [t₁, t₂] it lies in value(t₁) + [−Σ A⁺_m Δ_m, Σ A⁻_m Δ_m],
Δ_m = w_m(t₂) − w_m(t₁): if that excludes 0 for every row, the closed form is gradient
flow's path on all of [t₁, t₂]. ``certified_until`` checks a geometric grid of
horizons (``HORIZONS``, in units of τ = n/s_1², to 2^60 τ, then to ∞): a certificate
with no tolerance beyond the float64 rounding of the closed form.

**The run** (``descend``): explicit gradient descent with step η = lr·τ (τ of the
region the run is in, lr ≤ 1), in segments of ``segment`` steps, each followed by an
*event*: the pairs that end the segment within two steps of their face
(|θ_i·x̃_j| ≤ twice the largest one-step change of it), and that the flow pushes into
the face from both sides (α ∈ (0, 1)), are the face; θ is projected onto it (the
displacement, of the order of one step, is recorded as ``jump``); the region's or
face's closed form is certified as far as it goes; a run ends

- ``REACHED``: L ≤ loss_target at a certified time, found in closed form (however late)
  or during explicit steps;
- ``LIMIT``: the whole remaining flow is certified to stay in its region or face and L
  does not fall to the target: the flow converges to the closed form's θ_∞, a critical
  point (interior: ∇L = J̃ᵀr_∞/n = 0 with J̃ = J; on a face: 0 lies in the convex hull
  of the adjacent regions' gradients, a Clarke critical point);
- ``EXHAUSTED``: ``events`` events without either (undecided), or a non-finite loss.

Otherwise the flow is followed to the certified horizon and the next explicit segment
starts there. Time is gradient-flow time t, one explicit step counting η.

At depth 3 the Jacobian varies inside a region and there is no closed form.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnet.rank import jacobian
from jaxnet.regions import patterns

RUNNING, REACHED, LIMIT, EXHAUSTED = 0, 1, 2, 3
# horizons of the certificate, in units of τ = n/s_1²: 0 and 2^(t/2), t = −20..120
HORIZONS = (0.0, *(2.0 ** (t / 2) for t in range(-20, 121)))
BLOCK = 16  # horizons checked per step of the certificate's early-exit loop


class Unrolled(NamedTuple):
    """A depth-2 network in unit layout: ``theta: (m, D+1)`` rows θ_i = [w_i | b_i],
    ``v: (m,)``, data ``xt: (N, D+1)`` rows x̃_j = (x_j, 1)."""

    theta: jax.Array
    v: jax.Array
    xt: jax.Array


def unroll(params, fixed, xs) -> Unrolled:
    """``models.mlp`` at depth 2 (``params["hidden"][0]``: kernel (D, m), bias (m,))
    in unit layout."""
    layer = params["hidden"][0]
    theta = jnp.concatenate([layer["kernel"].T, layer["bias"][:, None]], axis=1)
    xt = jnp.concatenate([xs, jnp.ones((xs.shape[0], 1), xs.dtype)], axis=1)
    return Unrolled(theta, fixed["out"], xt)


def region_jacobian(theta, v, xt, mask, off=None):
    """``(N, m·(D+1))`` Jacobian of F(θ, x_j) = Σ_i v_i σ(θ_i·x̃_j), columns in θ's
    row-major order; rows with ``mask`` 0 and pairs in ``off: (m, N)`` are zero. It
    is constant on θ's activation region."""
    on = xt @ theta.T > 0
    if off is not None:
        on = on & ~off.T
    return patterns.khatri_rao_rows(
        on.astype(theta.dtype) * v[None, :] * mask[:, None], xt
    )


def thin_svd(j):
    """``(s, U, V)`` of ``j: (N, P)``: j = U diag(s) Vᵀ with min(N, P) components; for
    P ≥ N by Householder QR of jᵀ and the SVD of the N × N factor (as
    ``deep.singular_values``)."""
    if j.shape[1] < j.shape[0]:
        u, s, vt = jnp.linalg.svd(j, full_matrices=False)
        return s, u, vt.T
    q, r = jnp.linalg.qr(j.T)  # jᵀ = Q R
    ur, s, vrt = jnp.linalg.svd(r)  # R = Ur S Vrᵀ, so j = Rᵀ Qᵀ = Vr S (Q Ur)ᵀ
    return s, vrt.T, q @ ur


def _weights(mu, k):
    """w_m = 1 − exp(−μ_m k) at times ``k`` (units of τ; broadcast against ``mu``),
    0 where μ_m = 0 (null directions) even at k = ∞."""
    return jnp.where(mu > 0, -jnp.expm1(-k * mu), 0.0)


def _face(theta, xt, face):
    """The face's slots and projectors: per unit, its face points (at most D,
    linearly independent, else the unit gets no face), ``slots (m, K)``, ``ok (m, K)``,
    ``e (m, K, D+1)`` their x̃ rows, ``ginv_e = (E Eᵀ)⁻¹E``, ``proj = I − Eᵀ(EEᵀ)⁻¹E``."""
    m, d = theta.shape
    k = min(d - 1, xt.shape[0])  # θ_i ⊥ more than D independent x̃ forces θ_i = 0
    count = face.sum(axis=1)
    slots = jax.vmap(lambda row: jnp.nonzero(row, size=k, fill_value=0)[0])(face)
    ok = (jnp.arange(k)[None, :] < count[:, None]) & (count[:, None] <= k)

    def parts(ok):
        e = xt[slots] * ok[..., None]
        g = e @ jnp.swapaxes(e, 1, 2) + jnp.eye(k)[None] * ~ok[:, None, :]
        return e, g

    e, g = parts(ok)
    eig = jnp.linalg.eigvalsh(g)
    well = eig[:, 0] > 1e-10 * eig[:, -1]
    ok = ok & well[:, None]
    e, g = parts(ok)
    ginv_e = jnp.linalg.solve(g, e)
    proj = jnp.eye(d)[None] - jnp.swapaxes(e, 1, 2) @ ginv_e
    return slots, ok, e, ginv_e, proj


def certified_until(value0, coef, valid, mu):
    """Index of the first horizon interval [H_t, H_{t+1}] (the last: [H_T, ∞)) on which
    a row ``value0 − coef @ w(k)`` may reach 0, or len(HORIZONS) if none may (module
    docstring). Rows with ``valid`` False are ignored."""
    ks = jnp.asarray(HORIZONS + (math.inf,), value0.dtype)
    n_int = len(HORIZONS)
    pos, neg = jnp.maximum(coef, 0.0), jnp.maximum(-coef, 0.0)
    n_blocks = -(-n_int // BLOCK)
    pad = jnp.concatenate([ks, jnp.full(n_blocks * BLOCK + 1 - ks.size, jnp.inf)])

    def block_ok(b):
        start = pad[jax.lax.dynamic_slice(jnp.arange(pad.size), (b * BLOCK,), (BLOCK,))]
        end = pad[
            jax.lax.dynamic_slice(jnp.arange(pad.size), (b * BLOCK + 1,), (BLOCK,))
        ]
        w = _weights(mu[None, :], start[:, None])
        delta = _weights(mu[None, :], end[:, None]) - w
        at = value0[None, :] - w @ coef.T
        lo = at - delta @ pos.T
        hi = at + delta @ neg.T
        ok = jnp.where(value0[None, :] > 0, lo > 0, hi < 0) | ~valid[None, :]
        ok = jnp.all(ok, axis=1) | (b * BLOCK + jnp.arange(BLOCK) >= n_int)
        return jnp.argmin(jnp.concatenate([ok, jnp.zeros(1, bool)]))

    def going(state):
        b, first = state
        return (first == BLOCK) & (b < n_blocks)

    def body(state):
        b, _ = state
        return b + 1, block_ok(b).astype(jnp.int32)

    b, first = jax.lax.while_loop(going, body, (0, jnp.int32(BLOCK)))
    return jnp.where(first == BLOCK, n_int, (b - 1) * BLOCK + first)


def loss_at(mu, c2, n, k, rest=0.0):
    """L at time k (units of τ) of the closed form; ``rest``: ‖r‖² outside the range
    of U (P < N), which no flow in the region reduces."""
    kept = jnp.sum(jnp.where(mu > 0, jnp.exp(-2 * k * mu), 1.0) * c2)
    return (kept + rest) / (2 * n)


def first_reach(mu, c2, n, target, rest=0.0):
    """The least time k ≥ 0 (units of τ, to relative 2^-40) with L(k) ≤ target, or ∞
    if L(2^62) > target."""

    def loss(k):
        return loss_at(mu, c2, n, k, rest)

    def body(_, lohi):
        lo, hi = lohi  # log2 k: L(2^lo) > target ≥ L(2^hi)
        mid = (lo + hi) / 2
        below = loss(2.0**mid) <= target
        return jnp.where(below, lo, mid), jnp.where(below, mid, hi)

    _, hi = jax.lax.fori_loop(0, 64, body, (jnp.float64(-40.0), jnp.float64(62.0)))
    return jnp.where(
        loss(2.0**-40) <= target,
        0.0,
        jnp.where(loss(2.0**62) <= target, 2.0**hi, jnp.inf),
    )


def _slides(theta, face, v, xt, y, mask, n):
    """θ projected onto the face ``face: (m, N)``, its pattern and residual, and each
    face pair's q₁ = −λ, q₂ = v_i r_j/n + λ (module docstring): ``sliding`` is the
    face pairs that the flow pushes in from both sides (q₁, q₂ of one sign)."""
    m = theta.shape[0]
    real = jnp.broadcast_to(mask[None, :] > 0, face.shape)
    slots, ok, _, ginv_e, proj = _face(theta, xt, face & real)
    face = jnp.zeros_like(face).at[jnp.arange(m)[:, None], slots].max(ok)
    moved = jnp.einsum("iab,ib->ia", proj, theta)
    r = (jnp.maximum(moved @ xt.T, 0.0).T @ v - y) * mask
    z = moved @ xt.T
    on = (z > 0) & ~face & real
    act = on.astype(theta.dtype) * v[:, None]  # (m, N)
    # λ_i = (EEᵀ)⁻¹E g_i, g_i = (1/n) Σ_k on_ik v_i r_k x̃_k (affine in r)
    lam0 = jnp.einsum(
        "isa,ia->is", ginv_e, jnp.einsum("ik,ka->ia", act * r[None, :] / n, xt)
    )
    q1, q2 = -lam0, v[:, None] * r[slots] / n + lam0
    sliding = ((q1 > 0) & (q2 > 0)) | ((q1 < 0) & (q2 < 0))
    kept = jnp.zeros_like(face).at[jnp.arange(m)[:, None], slots].max(ok & sliding)
    return {
        "theta": moved,
        "jump": jnp.linalg.norm(moved - theta),
        "face": face,
        "real": real,
        "slots": slots,
        "ok": ok,
        "ginv_e": ginv_e,
        "proj": proj,
        "z": z,
        "act": act,
        "r": r,
        "q1": q1,
        "q2": q2,
        "slide_ok": jnp.all(~ok | sliding),
        "sliding": kept,  # the face pairs whose slide is valid
    }


def tail(theta, face, v, xt, y, mask, n, rtol):
    """The closed form of gradient flow from ``theta`` on its region, or on the face
    ``face: (m, N)`` (θ projected onto it first), and the rows its certificate checks
    (module docstring)."""
    m, d = theta.shape
    sl = _slides(theta, face, v, xt, y, mask, n)
    theta, face, real, slots, ok = (
        sl["theta"],
        sl["face"],
        sl["real"],
        sl["slots"],
        sl["ok"],
    )
    z, act, r, ginv_e = sl["z"], sl["act"], sl["r"], sl["ginv_e"]
    px = jnp.einsum("iab,jb->ija", sl["proj"], xt)  # Π_i x̃_j
    jt = (act[:, :, None] * px).transpose(1, 0, 2).reshape(xt.shape[0], -1)
    s, u, vmat = thin_svd(jt)
    live = s > rtol * s[0]
    mu = jnp.where(live, (s / s[0]) ** 2, 0.0)
    c = u.T @ r
    rest = jnp.maximum(jnp.sum(r**2) - jnp.sum(c**2), 0.0)  # outside range(U): P < N
    coef = jnp.where(live, c / jnp.where(live, s, 1.0), 0.0)
    # free pairs: z_ij(k) = z_ij − Σ_m (V_{i,m}·x̃_j) coef_m w_m(k)
    a_free = jnp.einsum("iam,ja->ijm", vmat.reshape(m, d, -1), xt) * coef[None, None, :]
    # face pairs: q₁, q₂ are affine in r, and r(k) = r − uc @ w(k)
    uc = u * jnp.where(live, c, 0.0)[None, :]
    gu = jnp.einsum("ik,km,ka->iam", act / n, uc, xt)
    lamu = jnp.einsum("isa,iam->ism", ginv_e, gu)
    vru = v[:, None, None] * uc[slots] / n
    value0 = jnp.concatenate(
        [z.reshape(-1), sl["q1"].reshape(-1), sl["q2"].reshape(-1)]
    )
    coefs = jnp.concatenate(
        [
            a_free.reshape(-1, a_free.shape[-1]),
            (-lamu).reshape(-1, lamu.shape[-1]),
            (vru + lamu).reshape(-1, lamu.shape[-1]),
        ]
    )
    valid = jnp.concatenate(
        [(real & ~face).reshape(-1), ok.reshape(-1), ok.reshape(-1)]
    )
    jump, slide_ok, kept = sl["jump"], sl["slide_ok"], sl["sliding"]
    return {
        "theta": theta,
        "jump": jump,
        "face": face,
        "s": s,
        "u": u,
        "vmat": vmat,
        "tau": n / s[0] ** 2,
        "live": live,
        "mu": mu,
        "c": c,
        "rest": rest,
        "coef": coef,
        "value0": value0,
        "coefs": coefs,
        "valid": valid,
        "slide_ok": slide_ok,
        "sliding": kept,  # the face pairs whose slide is valid
    }


class Descent(NamedTuple):
    """Where ``descend`` ended (module docstring)."""

    theta: jax.Array  # the end point: reached, θ_∞ (LIMIT), or the last iterate
    status: jax.Array  # REACHED, LIMIT or EXHAUSTED
    time: jax.Array  # gradient-flow time to the end point (∞ for LIMIT)
    events: jax.Array  # events used
    explicit: jax.Array  # explicit GD steps taken
    jump: jax.Array  # largest projection onto a face, ‖Δθ‖
    face: jax.Array  # (m, N) bool: the face of the end point (pairs θ_i·x̃_j = 0)
    loss: jax.Array  # L at the end point
    horizon: jax.Array  # the last event's certified horizon index (−1: slide invalid)


def descend(
    net: Unrolled,
    y,
    mask,
    n,
    n_params,
    *,
    lr: float,
    loss_target,
    events: int,
    segment: int,
) -> Descent:
    """Gradient descent, then gradient flow, from ``net.theta`` to its end (module
    docstring). ``y``: ``(N,)`` targets, ``mask``: ``(N,)`` 1 on the n real points;
    ``n_params``: P of the rank rule; ``lr`` ≤ 1."""
    v, xt = net.v, net.xt
    dtype = net.theta.dtype
    m = net.theta.shape[0]
    rtol = jnp.maximum(n, n_params) * jnp.finfo(dtype).eps

    def residual(theta):
        return (jnp.maximum(theta @ xt.T, 0.0).T @ v - y) * mask

    def loss(theta):
        return 0.5 * jnp.sum(residual(theta) ** 2) / n

    def explicit(theta, eta):
        """``segment`` GD steps; stops at the first iterate that reaches. Returns the
        iterate, the steps taken, whether it reached, and the chattering pairs: those
        that changed sign at least twice and end within two steps of their face."""

        def step(carry, _):
            theta, taken, done, flips, stride = carry
            r = residual(theta)
            done = done | (0.5 * jnp.sum(r**2) / n <= loss_target)
            grad = (region_jacobian(theta, v, xt, mask).T @ r / n).reshape(theta.shape)
            new = jnp.where(done, theta, theta - eta * grad)
            z_old, z_new = theta @ xt.T, new @ xt.T
            flips = flips + ((z_new > 0) != (z_old > 0))
            stride = jnp.maximum(stride, jnp.abs(z_new - z_old))
            return (new, taken + ~done, done, flips, stride), None

        zeros = jnp.zeros((m, xt.shape[0]), dtype)
        init = (theta, jnp.int32(0), jnp.bool_(False), zeros.astype(jnp.int32), zeros)
        (theta, taken, done, flips, stride), _ = jax.lax.scan(
            step, init, None, length=segment
        )
        chatter = jnp.abs(theta @ xt.T) <= 2 * stride
        return theta, taken, done, chatter

    def event(carry):
        theta, status, time, used, n_explicit, jump, face, _ = carry
        # the chattering pairs that gradient flow slides along (a pair pushed across
        # from one side only is left free: the flow crosses it)
        face = _slides(theta, face, v, xt, y, mask, n)["sliding"]
        cf = tail(theta, face, v, xt, y, mask, n, rtol)
        theta, face, mu, c, coef = (
            cf["theta"],
            cf["face"],
            cf["mu"],
            cf["c"],
            cf["coef"],
        )
        vmat, tau, slide_ok = cf["vmat"], cf["tau"], cf["slide_ok"]
        jump = jnp.maximum(jump, cf["jump"])
        value0, coefs, valid = cf["value0"], cf["coefs"], cf["valid"]
        t_fail = jnp.where(slide_ok, certified_until(value0, coefs, valid, mu), 0)
        ks = jnp.asarray(HORIZONS + (math.inf,), dtype)
        safe = ks[t_fail]
        reach = first_reach(mu, c**2, n, loss_target, cf["rest"])
        reached = (reach <= safe) & jnp.isfinite(reach)
        limit = ~reached & (t_fail == len(HORIZONS))
        k_jump = jnp.where(reached, reach, jnp.where(limit, jnp.inf, safe))
        flowed = theta - (vmat @ (coef * _weights(mu, k_jump))).reshape(theta.shape)
        flowed = jnp.where(k_jump > 0, flowed, theta)
        eta = lr * tau
        after, taken, hit, chatter = explicit(flowed, eta)
        decided = reached | limit
        time = time + tau * k_jump + jnp.where(decided, 0.0, eta * taken)
        n_explicit = n_explicit + jnp.where(decided, 0, taken)
        theta = jnp.where(decided, flowed, after)
        status = jnp.where(
            reached | (~decided & hit), REACHED, jnp.where(limit, LIMIT, RUNNING)
        )
        status = jnp.where(jnp.isfinite(loss(theta)), status, EXHAUSTED)
        face = jnp.where(decided, face, chatter)
        return (
            theta,
            status.astype(jnp.int32),
            time,
            used + 1,
            n_explicit,
            jump,
            face,
            jnp.where(slide_ok, t_fail, -1).astype(jnp.int32),
        )

    def going(carry):
        return (carry[1] == RUNNING) & (carry[3] < events)

    face0 = jnp.zeros((m, xt.shape[0]), bool)
    init = (
        net.theta,
        jnp.int32(RUNNING),
        jnp.asarray(0.0, dtype),
        jnp.int32(0),
        jnp.int32(0),
        jnp.asarray(0.0, dtype),
        face0,
        jnp.int32(0),
    )
    theta, status, time, used, n_explicit, jump, face, horizon = jax.lax.while_loop(
        going, event, init
    )
    status = jnp.where(status == RUNNING, EXHAUSTED, status)
    return Descent(
        theta, status, time, used, n_explicit, jump, face, loss(theta), horizon
    )


def deficiency_certificate(theta, v, xt, mask, n, d0, rtol, off=None):
    """A proof that rank J(θ) < n (J with the pairs ``off`` off): fewer columns than
    points, a zero row (a point no unit is on for), or ``jacobian.pattern_deficiency``'s
    affine dependency among points that share an activation pattern. Returns
    ``(certified, ratio_hi)``."""
    j = region_jacobian(theta, v, xt, mask, off)
    zero_row = jnp.any(jnp.all(j == 0, axis=1) & (mask > 0)) | (j.shape[1] < n)
    bits = xt @ theta.T > 0
    if off is not None:
        bits = bits & ~off.T
    cert, ratio = jacobian.pattern_deficiency(
        j, xt[:, :-1], bits, n, d0, rtol, row_mask=mask > 0
    )
    return zero_row | cert, jnp.where(zero_row, 0.0, ratio)


def face_flow(j, constraints, r, n, n_params, target):
    """Where gradient flow on a face goes if the face and region do not change, at any
    depth: the linearization of the flow at an end point θ.

    ``j: (N, P)`` the Jacobian at θ (rows of padding zero), ``constraints: (K, P)``
    the gradients ∇_θ z of the face's pre-activations (rows of zeros ignored), ``r:
    (N,)`` the residual, ``target`` the loss to reach. On the face (every constrained
    z held at 0) the flow moves in the null space of the constraints, so its Jacobian
    is J̃ = J·Π, Π the projector onto that null space (relu's side at z = 0 does not
    matter there: its derivative multiplies ∇z·dθ = 0). With J̃ = U S Vᵀ and c = Uᵀr,
    the linearized flow's loss is ``loss_at`` (live: s_m > rtol·s̃_1, Figure 4's rule
    with rtol = max(n, P)·eps). At depth 2 with a face whose slide stays valid this is
    ``tail``'s exact closed form; otherwise an extrapolation.

    Returns ``limit`` (L at t = ∞), ``reach`` (the time to ``target``, units of
    τ̃ = n/s̃_1²; ∞ if never), ``tau``, ``live`` (rank of J̃ by the rule), ``margin``
    (s̃_n/s̃_1 over rtol: > 1 full rank) and ``grad`` (‖J̃ᵀr‖, the min-norm slide
    velocity times n)."""
    dtype = j.dtype
    rtol = jnp.maximum(n, n_params) * jnp.finfo(dtype).eps
    _, sc, vt = jnp.linalg.svd(constraints, full_matrices=False)
    keep = sc > 1e-10 * jnp.maximum(sc[0], jnp.finfo(dtype).tiny)
    basis = vt * keep[:, None]
    jf = j - (j @ basis.T) @ basis
    s, u, _ = thin_svd(jf)
    s0 = jnp.maximum(s[0], jnp.finfo(dtype).tiny)
    live = s > rtol * s0
    mu = jnp.where(live, (s / s0) ** 2, 0.0)
    c2 = (u.T @ r) ** 2
    rest = jnp.maximum(jnp.sum(r**2) - jnp.sum(c2), 0.0)
    s_n = jnp.where(n <= s.shape[0], s[jnp.minimum(n, s.shape[0]) - 1], 0.0)
    return {
        "limit": loss_at(mu, c2, n, jnp.inf, rest),
        "reach": first_reach(mu, c2, n, target, rest),
        "tau": n / s0**2,
        "live": jnp.sum(live),
        "margin": s_n / s0 / rtol,
        "grad": jnp.linalg.norm(jf.T @ r),
    }
