"""A small neural-network library in pure NumPy, written to be read.

Each layer is a class with ``forward(x, training=True)`` (keeps in ``cache`` only what the
backward pass needs), ``backward(grad_out) -> grad_in`` (adds the parameter gradients into
``grads``) and ``zero_grad()``; the arithmetic sits in short pure functions beside it
(``linear_forward``/``linear_backward``, ...), in the style of the CS231n assignments.

Modules
-------
functional  the pure (out, cache) = f_forward(...), f_backward(dout, cache) functions
layers      Linear, ReLU, PatchEmbedding, Dropout, Flatten (thin classes around them)
losses      SoftmaxCrossEntropy (cross_entropy_forward / _backward)
init        random_normal (naive), he_normal, xavier_uniform
optim       SGD (momentum optional), Adam; step decay of the learning rate
model       Sequential (forward, backward, save/load .npz), build_mlp, load_network
gradcheck   centred finite differences in float64; the ``mnistlab gradcheck`` command
train       minibatch training with the curves of mnistlab.core.curves
"""
