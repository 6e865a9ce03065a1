"""Pictures of a minicnn model: its autograd graph, feature maps, filters, saliency, Grad-CAM,
gradient health, and the one-file backprop explorer page.

    python -m minicnn.viz graph lenet5 --out lenet5.svg
    python -m minicnn.viz features runs/lenet5/checkpoint.npz --image shoe.png --out pics/
    python -m minicnn.viz health lenet5 --out health.png

One module per idea: autograd_graph (DOT, Graphviz, a matplotlib fallback), features,
saliency (saliency and Grad-CAM), health, explorer (the HTML page), image_grid (arrays to
PNG tiles, shared by all), loading (checkpoints and images).
"""
from minicnn.viz.autograd_graph import graph

__all__ = ["graph"]
