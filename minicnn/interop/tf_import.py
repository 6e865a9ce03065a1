"""TensorFlow and Keras, imported once for minicnn.interop, quietly and with the install hint.

    from minicnn.interop.tf_import import keras, tf
"""
import os

# Quieter TensorFlow logs. TF 2.21 still prints its oneDNN notice to stderr unless the variable
# is set in the shell before Python starts.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    import keras
    import tensorflow as tf
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError("minicnn.interop.tensorflow needs TensorFlow: pip install 'minicnn[tf]' "
                      f"(tensorflow-cpu and h5py) ({error})") from error

__all__ = ["keras", "tf"]
