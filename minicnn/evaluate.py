"""Evaluate a checkpoint: `python -m minicnn.evaluate runs/latest/checkpoint.npz`.

Prints the test accuracy, the accuracy of each class and the confusion matrix (rows: true
class, columns: predicted class) on the test split of the dataset the model was trained on.
"""
import sys

import numpy as np

from minicnn import cli, inference
from minicnn.checkpoint import load_model
from minicnn.data import Batches, load_dataset


def predict_labels(model, batches, device="cpu"):
    """Predicted class of every image in `batches`, as a (N,) int64 array, and the true ones."""
    logits, true = inference.logits_of_batches(model, batches, device)
    return logits.argmax(axis=1), true


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


def run(argv=None):
    p = cli.parser("minicnn.evaluate", "Test accuracy, per-class accuracy and the confusion "
                                       "matrix of a checkpoint.")
    cli.add_checkpoint(p)
    cli.add_data_dir(p)
    p.add_argument("--batch-size", type=cli.positive_int, default=256,
                   help="images per forward pass")
    p.add_argument("--limit-test", type=cli.positive_int, metavar="N",
                   help="use the first N test images")
    cli.add_device(p)
    p.add_argument("--no-download", action="store_true", help="never download datasets")
    args = p.parse_args(argv)
    model, config = load_model(args.checkpoint, args.device)
    data = load_dataset(config.dataset, args.data_dir or config.data_dir,
                        allow_download=not args.no_download)
    if data.notice:
        print(data.notice)
    data.limit(test=args.limit_test)
    _, H, W = config.input_shape
    batches = Batches(data.test_x, data.test_y, args.batch_size, config.mean, config.std,
                      size=(H, W))
    predicted, true = predict_labels(model, batches, args.device)
    print(f"{config.model} on {data.name} test split ({data.source})")
    print(report(confusion_matrix(true, predicted, config.num_classes), config.class_names))
    return 0


def main(argv=None):
    return cli.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
