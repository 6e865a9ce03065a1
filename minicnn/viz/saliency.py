"""Where the network looks: the saliency map and Grad-CAM, both from minicnn's own backward.

Saliency (Simonyan et al. 2014): the gradient of one class score (a logit, before softmax)
with respect to the input pixels; shown as max |gradient| over the colour channels.
Grad-CAM (Selvaraju et al. 2017): weight the last conv layer's K feature maps A_k by the mean
gradient of the class score over each map, alpha_k = mean(d score / d A_k), and keep the
positive part of sum_k alpha_k A_k, upsampled to the input size.
"""
import numpy as np

import minicnn
from minicnn import backend, nn
from minicnn.data import bilinear_resize


def _class_score_backward(model, x, class_index):
    """Run model on x (1, C, H, W), backpropagate logits[0, k]; return (input Tensor, logits, k).

    k defaults to the predicted class. The parameters' .grad are cleared afterwards, so
    looking at a model leaves no trace on it.
    """
    xp = backend.get_array_module(x)
    image = minicnn.Tensor(x, requires_grad=True)
    logits = model(image)
    k = int(backend.asnumpy(logits.data)[0].argmax()) if class_index is None else class_index
    seed = xp.zeros_like(logits.data)
    seed[0, k] = 1.0  # d score / d logits: one-hot on the chosen class of image 0
    logits.backward(seed)
    model.zero_grad()
    return image, backend.asnumpy(logits.data)[0], k


def input_gradient(model, x, class_index=None):
    """d logits[0, k] / d x for one image.

    Args:
        x: (1, C, H, W) normalised input.
        class_index: k (default: the predicted class).
    Returns:
        (gradient (C, H, W) float array, k).
    """
    image, _, k = _class_score_backward(model, x, class_index)
    return backend.asnumpy(image.grad)[0], k


def saliency_map(gradient):
    """(C, H, W) input gradient -> (H, W) max over channels of |gradient|."""
    return np.abs(gradient).max(axis=0)


def grad_cam(model, x, class_index=None, layer=None):
    """Grad-CAM heat map of class k on one conv layer.

    Args:
        x: (1, C, H, W) normalised input.
        layer: module path of a Conv2d; default: the last conv layer whose output is larger
            than 1x1 (a 1x1 map, like LeNet-5's C5, says nothing about where).
    Returns:
        dict: cam (H, W) >= 0 upsampled to the input, cam_small (h, w) at the layer's
        resolution, weights (K,) the alpha_k, layer (path), class_index k.
    """
    convs = _conv_layers(model) if layer is None else [(layer, _module(model, layer))]
    outputs = {}
    handles = []
    for path, module in convs:
        def keep_output(module_, inputs, output, path=path):
            outputs.setdefault(path, output.retain_grad())  # first call only (shared layers)
        handles.append(module.register_forward_hook(keep_output))
    try:
        _, _, k = _class_score_backward(model, x, class_index)
    finally:
        for handle in handles:
            handle.remove()
    path = _pick_layer(outputs)
    A = backend.asnumpy(outputs[path].data)[0].astype(np.float64)   # (K, h, w)
    gA = backend.asnumpy(outputs[path].grad)[0].astype(np.float64)  # (K, h, w)
    weights = gA.mean(axis=(1, 2))                                  # alpha_k
    cam_small = np.maximum((weights[:, None, None] * A).sum(axis=0), 0.0)
    H, W = x.shape[2:]
    cam = bilinear_resize(cam_small[None, None], (H, W))[0, 0]
    return {"cam": cam, "cam_small": cam_small, "weights": weights, "layer": path,
            "class_index": k}


def _conv_layers(model):
    convs = [(path, m) for path, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"{type(model).__name__} has no Conv2d layer for Grad-CAM")
    return convs


def _pick_layer(outputs):
    """The last conv output (in call order) larger than 1x1, else the last one."""
    paths = list(outputs)
    larger = [p for p in paths if outputs[p].shape[2] * outputs[p].shape[3] > 1]
    return (larger or paths)[-1]


def _module(model, path):
    modules = dict(model.named_modules())
    if path not in modules:
        convs = [p for p, m in modules.items() if isinstance(m, nn.Conv2d)]
        raise ValueError(f"no module {path!r} in {type(model).__name__}; conv layers: {convs}")
    return modules[path]
