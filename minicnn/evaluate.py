"""Evaluate a checkpoint: `python -m minicnn.evaluate runs/.../checkpoint.npz`.

Prints the test accuracy, the accuracy of each class and the confusion matrix (rows: true
class, columns: predicted class) on the test split of the dataset the model was trained on.
"""
import argparse
import sys

import numpy as np

import minicnn
from minicnn import backend, checkpoint
from minicnn.data import Batches, DataNotFoundError, load_dataset


def load_model(path, device="cpu"):
    """Rebuild the model a checkpoint was saved from. Returns (model in eval mode, config)."""
    from minicnn.train import build_model  # the same construction as training
    model_state, _, meta = checkpoint.load(path)
    config = meta["config"]
    backend.set_default_device(device)
    model = build_model(config, config["num_classes"], config["input_shape"][0])
    model.load_state_dict(model_state)
    model.eval()
    return model, config


def predict_labels(model, batches, device="cpu"):
    """Predicted class of every image in `batches`, as a (N,) int64 array, and the true ones."""
    predicted, true = [], []
    with minicnn.no_grad():
        for x, y in batches:
            logits = model(minicnn.Tensor(backend.to_device(x, device)))
            predicted.append(backend.asnumpy(logits.data).argmax(axis=1))
            true.append(y)
    return np.concatenate(predicted), np.concatenate(true)


def confusion_matrix(true, predicted, num_classes):
    """(K, K) counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def report(matrix, class_names):
    """The printed report: overall accuracy, per-class accuracy, confusion matrix."""
    total = matrix.sum()
    lines = [f"test accuracy {np.trace(matrix) / max(total, 1):.4f} "
             f"({np.trace(matrix)}/{total} images)", "", "per-class accuracy:"]
    width = max(len(name) for name in class_names)
    for k, name in enumerate(class_names):
        count = matrix[k].sum()
        accuracy = f"{matrix[k, k] / count:.4f}" if count else "  n/a"
        lines.append(f"  {k:>3} {name:<{width}}  {accuracy}  ({matrix[k, k]}/{count})")
    lines += ["", "confusion matrix (rows: true class, columns: predicted class):"]
    cell = max(4, len(str(matrix.max())) + 1)
    lines.append(" " * 5 + "".join(f"{k:>{cell}}" for k in range(len(class_names))))
    for k in range(len(class_names)):
        lines.append(f"  {k:>3}" + "".join(f"{v:>{cell}}" for v in matrix[k]))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m minicnn.evaluate",
                                description="Test accuracy, per-class accuracy and the "
                                            "confusion matrix of a checkpoint.")
    p.add_argument("checkpoint")
    p.add_argument("--data-dir", help="folder holding the dataset files")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--limit-test", type=int, metavar="N", help="use the first N test images")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--no-download", action="store_true")
    args = p.parse_args(argv)
    try:
        model, config = load_model(args.checkpoint, args.device)
        data = load_dataset(config["dataset"], args.data_dir or config.get("data_dir"),
                            allow_download=not args.no_download)
    except (DataNotFoundError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if data.notice:
        print(data.notice)
    data.limit(test=args.limit_test)
    _, H, W = config["input_shape"]
    batches = Batches(data.test_x, data.test_y, args.batch_size, config["mean"], config["std"],
                      size=(H, W))
    predicted, true = predict_labels(model, batches, args.device)
    print(f"{config['model']} on {data.name} test split ({data.source})")
    print(report(confusion_matrix(true, predicted, config["num_classes"]),
                 config["class_names"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
