"""PyTorch side of the comparison.

Modules
-------
models      the architectures (builder functions) and ``build_model``
settings    one run's settings resolved from params.yaml
train       ``train_one_epoch`` / ``loss_and_accuracy`` in the pytorch/examples shape, ``train_model``
predictor   save, load and predict (no training code)
augment     batched random rotation, perspective and shifts

The same prepared splits and the same predictor interface as the from-scratch NumPy network
(:mod:`mnistlab.models.registry`), so the evaluate stage treats ``models/torch_<variant>.pt`` like any
other model.
"""
