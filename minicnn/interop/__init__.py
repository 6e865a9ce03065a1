"""Bridges between minicnn and other frameworks.

`minicnn.interop.tensorflow` (the optional extra `pip install minicnn[tf]`) builds the Keras twin
of a minicnn model, copies weights both ways, loads Keras `.weights.h5` files and compares the two
frameworks layer by layer. Nothing here is imported by `import minicnn`: TensorFlow loads only
when you import `minicnn.interop.tensorflow` yourself.
"""
