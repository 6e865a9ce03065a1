"""Optimizers and learning-rate schedules against hand-written updates and against PyTorch.

The same fixed sequence of gradients is fed to minicnn and to the reference, in float64, for
several steps (momentum and Adam's moments only show their effect after the first step).
"""
import math

import numpy as np
import pytest

import minicnn
from minicnn import optim

STEPS = 6


def _params_and_grads(rng, shapes=((3, 4), (5,))):
    """Initial parameter values and a gradient sequence per parameter: [step][param]."""
    values = [rng.standard_normal(shape) for shape in shapes]
    grads = [[rng.standard_normal(shape) for shape in shapes] for _ in range(STEPS)]
    return values, grads


def _run_minicnn(make_optimizer, values, grads, lr_at=None):
    params = [minicnn.Parameter(value.copy()) for value in values]
    optimizer = make_optimizer(params)
    history = []
    for step, step_grads in enumerate(grads):
        if lr_at is not None:
            optimizer.lr = lr_at(step)
        optimizer.zero_grad()
        for param, grad in zip(params, step_grads):
            param.grad = grad.copy()
        optimizer.step()
        history.append([param.numpy().copy() for param in params])
    return history


def _run_torch(torch, make_optimizer, values, grads, lr_at=None):
    params = [torch.tensor(value.copy(), requires_grad=True) for value in values]
    optimizer = make_optimizer(params)
    history = []
    for step, step_grads in enumerate(grads):
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
        optimizer.zero_grad()
        for param, grad in zip(params, step_grads):
            param.grad = torch.from_numpy(grad.copy())
        optimizer.step()
        history.append([param.detach().numpy().copy() for param in params])
    return history


def _assert_same_history(ours, theirs, rtol=1e-12):
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for index, (x, y) in enumerate(zip(a, b)):
            np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-14,
                                       err_msg=f"step {step}, parameter {index}")


# --- hand-written references (PyTorch's update rules, written out) ----------------------------

def sgd_reference(values, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    params = [value.copy() for value in values]
    velocities = [None] * len(params)
    history = []
    for step_grads in grads:
        for i, grad in enumerate(step_grads):
            g = grad + weight_decay * params[i]
            if momentum:
                velocities[i] = g.copy() if velocities[i] is None else momentum * velocities[i] + g
                g = g + momentum * velocities[i] if nesterov else velocities[i]
            params[i] = params[i] - lr * g
        history.append([p.copy() for p in params])
    return history


def adam_reference(values, grads, lr, betas, eps, weight_decay=0.0):
    beta1, beta2 = betas
    params = [value.copy() for value in values]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    history = []
    for t, step_grads in enumerate(grads, start=1):
        for i, grad in enumerate(step_grads):
            g = grad + weight_decay * params[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat = m[i] / (1 - beta1 ** t)
            v_hat = v[i] / (1 - beta2 ** t)
            params[i] = params[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
        history.append([p.copy() for p in params])
    return history


SGD_SETTINGS = [
    dict(lr=0.1),
    dict(lr=0.05, weight_decay=0.01),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.02, momentum=0.5, nesterov=True, weight_decay=0.1),
    dict(lr=0.02, momentum=0.8, weight_decay=5e-4),
]

ADAM_SETTINGS = [
    dict(lr=1e-3),
    dict(lr=0.01, betas=(0.5, 0.9)),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.1, betas=(0.8, 0.99), eps=1e-3, weight_decay=1e-2),
]


@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=str)
def test_sgd_matches_hand_written_update(rng, settings):
    values, grads = _params_and_grads(rng)
    ours = _run_minicnn(lambda params: optim.SGD(params, **settings), values, grads)
    _assert_same_history(ours, sgd_reference(values, grads, **settings))


@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=str)
def test_sgd_matches_pytorch(rng, settings):
    torch = pytest.importorskip("torch")
    values, grads = _params_and_grads(rng)
    ours = _run_minicnn(lambda params: optim.SGD(params, **settings), values, grads)
    theirs = _run_torch(torch, lambda params: torch.optim.SGD(params, **settings), values, grads)
    _assert_same_history(ours, theirs)


@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=str)
def test_adam_matches_hand_written_update(rng, settings):
    values, grads = _params_and_grads(rng)
    ours = _run_minicnn(lambda params: optim.Adam(params, **settings), values, grads)
    full = {"betas": (0.9, 0.999), "eps": 1e-8, **settings}
    _assert_same_history(ours, adam_reference(values, grads, **full), rtol=1e-10)


@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=str)
def test_adam_matches_pytorch(rng, settings):
    torch = pytest.importorskip("torch")
    values, grads = _params_and_grads(rng)
    ours = _run_minicnn(lambda params: optim.Adam(params, **settings), values, grads)
    theirs = _run_torch(torch, lambda params: torch.optim.Adam(params, **settings), values, grads)
    _assert_same_history(ours, theirs, rtol=1e-10)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_changing_lr_between_steps_matches_pytorch(rng, name):
    torch = pytest.importorskip("torch")
    values, grads = _params_and_grads(rng)
    lr_at = lambda step: 0.1 * 0.5 ** step  # noqa: E731
    ours_cls = {"sgd": optim.SGD, "adam": optim.Adam}[name]
    theirs_cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[name]
    extra = dict(momentum=0.9) if name == "sgd" else {}
    ours = _run_minicnn(lambda p: ours_cls(p, lr=1.0, **extra), values, grads, lr_at)
    theirs = _run_torch(torch, lambda p: theirs_cls(p, lr=1.0, **extra), values, grads, lr_at)
    _assert_same_history(ours, theirs, rtol=1e-10)


def test_float32_parameters_stay_float32(rng):
    for make in (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-4),
                 lambda p: optim.Adam(p, lr=0.1, weight_decay=1e-4)):
        param = minicnn.Parameter(rng.standard_normal((3, 3)).astype(np.float32))
        optimizer = make([param])
        for _ in range(3):
            param.grad = rng.standard_normal((3, 3)).astype(np.float32)
            optimizer.step()
        assert param.dtype == np.float32


def test_zero_grad_and_parameters_without_gradient(rng):
    used = minicnn.Parameter(np.ones(3))
    unused = minicnn.Parameter(np.ones(2))
    optimizer = optim.SGD([used, unused], lr=0.5, momentum=0.9, weight_decay=0.1)
    used.grad = np.full(3, 2.0)
    optimizer.step()
    np.testing.assert_allclose(used.numpy(), 1.0 - 0.5 * (2.0 + 0.1))
    np.testing.assert_array_equal(unused.numpy(), np.ones(2))  # no gradient: left untouched
    optimizer.zero_grad()
    assert used.grad is None or not np.any(used.grad)


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=0.1, momentum=0.9), lambda p: optim.Adam(p, lr=0.1),
], ids=["sgd", "adam"])
def test_optimizer_updates_parameters_in_place(rng, make):
    param = minicnn.Parameter(rng.standard_normal(4))
    data_before, values_before = param.data, param.numpy().copy()
    optimizer = make([param])
    for _ in range(2):
        param.grad = np.ones(4)
        optimizer.step()
    assert param.data is data_before  # a model's layers hold this very array
    assert not np.allclose(param.numpy(), values_before)


# --- optimizer state: save and resume ---------------------------------------------------------

def _is_plain(value):
    """numpy arrays, numbers, strings, and lists/tuples/dicts of them."""
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _is_plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    return isinstance(value, (np.ndarray, int, float, str, bool, np.number)) or value is None


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda p: optim.Adam(p, lr=0.05, betas=(0.8, 0.99), weight_decay=1e-3),
], ids=["sgd", "adam"])
def test_optimizer_state_dict_resumes_exactly(rng, make):
    values, grads = _params_and_grads(rng)
    uninterrupted = _run_minicnn(make, values, grads)

    params = [minicnn.Parameter(value.copy()) for value in values]
    first = make(params)
    for step_grads in grads[:3]:
        for param, grad in zip(params, step_grads):
            param.grad = grad.copy()
        first.step()
    state = first.state_dict()
    assert _is_plain(state)
    for param, grad in zip(params, grads[3]):  # later steps must not leak into the saved state
        param.grad = grad.copy()
    first.step()

    resumed_params = [minicnn.Parameter(p.copy()) for p in uninterrupted[2]]
    resumed = make(resumed_params)
    resumed.load_state_dict(state)
    for step_grads in grads[3:]:
        for param, grad in zip(resumed_params, step_grads):
            param.grad = grad.copy()
        resumed.step()
    for ours, expected in zip(resumed_params, uninterrupted[-1]):
        np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12)


def test_sgd_minimises_a_quadratic():
    target = np.array([1.0, -2.0, 3.0])
    x = minicnn.Parameter(np.zeros(3))
    optimizer = optim.SGD([x], lr=0.1, momentum=0.9)
    for _ in range(400):  # the error shrinks by sqrt(momentum) ~ 0.95 per step
        optimizer.zero_grad()
        ((x - minicnn.Tensor(target)) ** 2).sum().backward()
        optimizer.step()
    np.testing.assert_allclose(x.numpy(), target, atol=1e-6)


# --- learning-rate schedules ------------------------------------------------------------------

def _lrs(scheduler, optimizer, epochs):
    """optimizer.lr used in epochs 0..epochs-1 (scheduler.step() after each epoch)."""
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.lr)
        scheduler.step()
    return lrs


@pytest.mark.parametrize("step_size, gamma", [(3, 0.1), (1, 0.5), (4, 0.3)])
def test_step_lr_matches_closed_form_and_pytorch(step_size, gamma):
    optimizer = optim.SGD([minicnn.Parameter(np.zeros(1))], lr=0.4)
    ours = _lrs(optim.StepLR(optimizer, step_size, gamma), optimizer, 12)
    expected = [0.4 * gamma ** (epoch // step_size) for epoch in range(12)]
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    torch = pytest.importorskip("torch")
    torch_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.4)
    torch_sched = torch.optim.lr_scheduler.StepLR(torch_opt, step_size, gamma)
    theirs = []
    for _ in range(12):
        theirs.append(torch_opt.param_groups[0]["lr"])
        torch_opt.step()
        torch_sched.step()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("T_max, eta_min", [(10, 0.0), (7, 0.01), (1, 0.001)])
def test_cosine_annealing_matches_closed_form_and_pytorch(T_max, eta_min):
    optimizer = optim.Adam([minicnn.Parameter(np.zeros(1))], lr=0.2)
    ours = _lrs(optim.CosineAnnealingLR(optimizer, T_max, eta_min), optimizer, T_max + 1)
    expected = [eta_min + (0.2 - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2
                for t in range(T_max + 1)]
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    assert ours[0] == 0.2 and abs(ours[-1] - eta_min) < 1e-12
    torch = pytest.importorskip("torch")
    torch_opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.2)
    torch_sched = torch.optim.lr_scheduler.CosineAnnealingLR(torch_opt, T_max, eta_min)
    theirs = []
    for _ in range(T_max + 1):
        theirs.append(torch_opt.param_groups[0]["lr"])
        torch_opt.step()
        torch_sched.step()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("make", [
    lambda opt: optim.StepLR(opt, 2, 0.5),
    lambda opt: optim.CosineAnnealingLR(opt, 8, 0.01),
], ids=["step", "cosine"])
def test_scheduler_state_dict_resumes_the_schedule(make):
    optimizer = optim.SGD([minicnn.Parameter(np.zeros(1))], lr=0.3)
    uninterrupted = _lrs(make(optimizer), optimizer, 8)

    optimizer = optim.SGD([minicnn.Parameter(np.zeros(1))], lr=0.3)
    scheduler = make(optimizer)
    first_half = _lrs(scheduler, optimizer, 4)
    state = scheduler.state_dict()
    assert _is_plain(state)
    fresh_optimizer = optim.SGD([minicnn.Parameter(np.zeros(1))], lr=0.3)
    resumed = make(fresh_optimizer)
    resumed.load_state_dict(state)
    second_half = _lrs(resumed, fresh_optimizer, 4)
    np.testing.assert_allclose(first_half + second_half, uninterrupted, rtol=1e-12)
