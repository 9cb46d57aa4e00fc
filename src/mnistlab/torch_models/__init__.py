"""PyTorch side of the comparison: models (:mod:`.models`), batched augmentation (:mod:`.augment`),
training, saving and loading (:mod:`.train`).

The same prepared splits and the same predictor interface as the from-scratch NumPy network, so
the evaluate stage treats ``models/torch_<model>.pt`` like any other model.
"""
