"""What a trained network sees in one image: feature maps, first-layer filters, saliency, Grad-CAM.

    python -m minicnn.viz features runs/lenet5/checkpoint.npz --image shoe.png --out pics/

writes into pics/: input.png; features_<layer>.png (one tile per channel of every conv layer's
output); filters_<layer>.png (the first conv layer's kernels, one shared colour scale);
saliency.png; gradcam.png; and saliency_gradcam.png (input, saliency and Grad-CAM side by side,
with titles). Tiles map each array's min to the dark end of the viridis map and its max to the
bright end (see minicnn.viz.image_grid).
"""
import os
from collections import OrderedDict

import numpy as np

import minicnn
from minicnn import backend, nn
from minicnn.viz import image_grid, saliency


def conv_feature_maps(model, x):
    """Every Conv2d call's output for image 0 of x, in call order.

    Args:
        x: (N, C, H, W) normalised input.
    Returns:
        OrderedDict {module path: (OC, OH, OW) array}.
    """
    maps = OrderedDict()
    handles = []
    for path, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            def keep(module_, inputs, output, path=path):
                maps.setdefault(path, backend.asnumpy(output.data)[0])
            handles.append(module.register_forward_hook(keep))
    try:
        with minicnn.no_grad():
            model(minicnn.Tensor(x))
    finally:
        for handle in handles:
            handle.remove()
    return maps


def first_conv_filters(model):
    """(path, weight (OC, C, KH, KW) array) of the first Conv2d in module order."""
    for path, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return path, backend.asnumpy(module.weight.data)
    raise ValueError(f"{type(model).__name__} has no Conv2d layer")


def filter_tiles(weight):
    """(OC, C, KH, KW) -> (tiles, columns): one tile per (output, input) channel pair, each
    output channel on its own row when there are several input channels."""
    OC, C = weight.shape[:2]
    tiles = [weight[o, c] for o in range(OC) for c in range(C)]
    return tiles, (C if C > 1 else None)


def file_stem(path):
    """A module path as a file-name part: 'layer4.1.conv2' -> 'layer4.1.conv2', '' -> 'model'."""
    return path.replace("/", "_") or "model"


def write_feature_images(model, x, pixels, out_dir, class_names=None, class_index=None,
                         layer=None):
    """Write the PNGs listed in the module docstring; return what was drawn.

    Args:
        x: (1, C, H, W) normalised input; pixels: (C, H, W) 0..1 image for display.
    Returns:
        dict: files (list of paths), features {path: array}, filters (array), saliency (H, W),
        gradcam (dict from saliency.grad_cam), class_index.
    """
    files = []

    def save(name, image):
        path = os.path.join(out_dir, name)
        image_grid.save_png(path, image)
        files.append(path)

    H, W = x.shape[2:]
    scale = image_grid.default_scale(max(H, W), 112)
    save("input.png", image_grid.tile_grid([pixels.mean(axis=0)], scale=scale, cmap="gray"))
    features = conv_feature_maps(model, x)
    for path, maps in features.items():
        save(f"features_{file_stem(path)}.png",
             image_grid.tile_grid(list(maps), scale=image_grid.default_scale(maps.shape[-1], 84)))
    filter_path, weight = first_conv_filters(model)
    tiles, columns = filter_tiles(weight)
    save(f"filters_{file_stem(filter_path)}.png",
         image_grid.tile_grid(tiles, columns, scale=image_grid.default_scale(weight.shape[-1], 40),
                              shared=True, cmap="RdBu_r"))
    gradient, k = saliency.input_gradient(model, x, class_index)
    sal = saliency.saliency_map(gradient)
    save("saliency.png", image_grid.tile_grid([sal], scale=scale, cmap="inferno"))
    cam = saliency.grad_cam(model, x, k, layer)
    save("gradcam.png", image_grid.tile_grid([cam["cam"]], scale=scale, cmap="jet"))
    label = class_names[k] if class_names else f"class {k}"
    label = f"{'predicted' if class_index is None else 'class'}: {label}"
    pair_path = os.path.join(out_dir, "saliency_gradcam.png")
    draw_saliency_pair(pair_path, pixels, sal, cam, label)
    files.append(pair_path)
    return {"files": files, "features": features, "filters": weight, "saliency": sal,
            "gradcam": cam, "class_index": k}


def draw_saliency_pair(path, pixels, sal, cam, label):
    """Input | saliency | Grad-CAM over the input, with titles, as one matplotlib figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(7.5, 2.8))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    grey = pixels.mean(axis=0)
    axes[0].imshow(grey, cmap="gray")
    axes[0].set_title(f"input ({label})", fontsize=10)
    axes[1].imshow(sal, cmap="inferno")
    axes[1].set_title("saliency |d score / d x|")
    axes[2].imshow(grey, cmap="gray")
    axes[2].imshow(cam["cam"], cmap="jet", alpha=0.5)
    axes[2].set_title(f"Grad-CAM ({cam['layer']})")
    for ax in axes:
        ax.set_axis_off()
    figure.tight_layout()
    tmp_path = path + ".tmp"
    figure.savefig(tmp_path, dpi=100, format="png")
    os.replace(tmp_path, path)


def run(args):
    """`features` subcommand: checkpoint + image file -> PNGs in args.out."""
    from minicnn.viz import loading
    model, config = loading.load_checkpoint(args.checkpoint)
    x, pixels = loading.normalised_image(args.image, config, args.invert)
    num_classes = config.num_classes
    if args.class_index is not None and not 0 <= args.class_index < num_classes:
        raise loading.VizInputError(f"--class {args.class_index}: outside 0..{num_classes - 1}; "
                                    f"give a class index of this model")
    drawn = write_feature_images(model, x.astype(np.float32), pixels, args.out,
                                 config.class_names, args.class_index, args.layer)
    names = config.class_names or []
    k = drawn["class_index"]
    print(f"class {k} ({names[k] if k < len(names) else '?'}): "
          f"{len(drawn['files'])} images in {args.out}")
    for path in drawn["files"]:
        print(f"  {path}")
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser("features", help="feature maps, filters, saliency, Grad-CAM",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="checkpoint.npz written by python -m minicnn.train")
    p.add_argument("--image", required=True, help="PNG or JPEG file (read as predict reads it)")
    p.add_argument("--out", required=True, help="folder for the PNG files")
    p.add_argument("--class", dest="class_index", type=int, default=None,
                   help="class index for saliency and Grad-CAM (default: the predicted one)")
    p.add_argument("--layer", default=None, metavar="PATH",
                   help="conv layer for Grad-CAM (default: the last one larger than 1x1)")
    p.add_argument("--invert", action="store_true",
                   help="invert grey levels (dark object on a light background)")
    p.set_defaults(run=run)
