"""Shapes and parameter counts of the PyTorch models, and the twins' equivalence with a patch embedding."""

import numpy as np
import pytest
import torch

from mnistlab.core.errors import MnistlabError
from mnistlab.models.registry import MODELS, load_model
from mnistlab.models.torch_models.models import (
    BUILDERS,
    INPUT_SHAPE,
    Normalize,
    build_model,
    count_params,
    default_sizes,
)
from mnistlab.models.torch_models.predictor import PREDICT_BATCH, TorchPredictor, save_torch

#: Every PyTorch model of the registry with its builder: adding a model adds it to every test below.
BUILT = {name: spec.builder for name, spec in MODELS.items() if spec.family == "torch" and spec.builder}

# Hand counts (weights + biases of each layer) of the existing builders' default architectures: a
# check that they did not change. A builder absent from this table is only required to build.
EXPECTED_PARAMS = {
    "logreg": 784 * 10 + 10,
    "fnn": (784 * 256 + 256) + (256 * 10 + 10),
    "cnn": (1 * 16 * 9 + 16) + (16 * 32 * 9 + 32) + (32 * 7 * 7 * 128 + 128) + (128 * 10 + 10),
    "patchnet": (16 * 8 + 8) + (8 * 7 * 7 * 512 + 512) + (512 * 10 + 10),
    "mlp": (784 * 512 + 512) + (512 * 10 + 10),
    # LeNet-5 with a full C3 (LeCun et al. 1998, Fig. 2): C1, C3, C5 (as fully connected), F6, output
    "lenet5": (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10),
    # 3x3 convolutions without bias, each followed by batch normalisation (scale and shift per channel)
    "cnn_bn": (16 * 9 + 2 * 16) + (32 * 16 * 9 + 2 * 32) + (64 * 32 * 9 + 2 * 64) + (64 * 3 * 3 * 128 + 128)
    + (128 * 10 + 10),
}


def test_the_registry_names_every_torch_model_with_a_known_builder():
    assert BUILT and set(BUILT.values()) <= set(BUILDERS)
    assert all(spec.builder is None for spec in MODELS.values() if spec.family != "torch")
    assert set(EXPECTED_PARAMS) <= set(BUILDERS)  # the table names no builder that is gone


@pytest.mark.parametrize("name", list(BUILT))
@pytest.mark.parametrize("normalize", [True, False])
def test_shapes_and_parameter_counts(name, normalize):
    builder = BUILT[name]
    torch.manual_seed(0)
    model = build_model(builder, normalize=normalize)
    logits = model(torch.rand(5, *INPUT_SHAPE))
    assert logits.shape == (5, 10) and logits.dtype == torch.float32
    assert count_params(model) > 0
    if builder in EXPECTED_PARAMS:
        assert count_params(model) == EXPECTED_PARAMS[builder]
    assert isinstance(model[0], Normalize) == normalize


def test_twins_take_their_sizes_from_the_numpy_net_params():
    sizes = {**default_sizes("patchnet"), "hidden_sizes": [64, 32], "patch_size": 7, "embed_channels": 4}
    model = build_model("patchnet", sizes)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert count_params(model) == (49 * 4 + 4) + (4 * 4 * 4 * 64 + 64) + (64 * 32 + 32) + (32 * 10 + 10)
    mlp = build_model("mlp", {**default_sizes("mlp"), "hidden_sizes": [100]})
    assert count_params(mlp) == (784 * 100 + 100) + (100 * 10 + 10)


def test_patch_embedding_is_a_strided_reshape_and_matmul():
    torch.manual_seed(0)
    conv = build_model("patchnet", normalize=False)[0]
    x = torch.rand(3, 1, 28, 28)
    patches = x.reshape(3, 7, 4, 7, 4).permute(0, 1, 3, 2, 4).reshape(3, 7, 7, 16)
    expected = (patches @ conv.weight.reshape(8, 16).T + conv.bias).permute(0, 3, 1, 2)
    torch.testing.assert_close(conv(x), expected)


def test_normalize_uses_mnist_statistics():
    out = Normalize()(torch.full((1, 1, 2, 2), 0.1307))
    torch.testing.assert_close(out, torch.zeros(1, 1, 2, 2))


def test_unknown_model_and_bad_patch_size():
    with pytest.raises(MnistlabError, match="no builder function"):
        build_model("resnet")
    with pytest.raises(MnistlabError, match="no builder function"):
        default_sizes("resnet")
    with pytest.raises(MnistlabError, match="no builder function"):
        build_model("count_params")  # a function of the module, but not a builder
    with pytest.raises(MnistlabError, match="mlp.patch_size"):
        build_model("patchnet", {**default_sizes("patchnet"), "patch_size": 5})


def test_every_registered_torch_model_has_a_builder_with_its_defaults():
    for builder in BUILT.values():
        assert build_model(builder, default_sizes(builder))(torch.rand(1, *INPUT_SHAPE)).shape == (1, 10)


def _shapes(model: torch.nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """(layer class name, output shape without the batch) after every layer of a Sequential."""
    shapes = []
    for layer in model:
        x = layer(x)
        shapes.append((type(layer).__name__, tuple(x.shape[1:])))
    return shapes


def test_lenet5_has_the_layers_of_the_paper():
    """LeCun et al. 1998, Fig. 2: a 32x32 input, C1 6@28x28, S2 6@14x14, C3 16@10x10, S4 16@5x5,
    C5 120, F6 84, 10 outputs; 61,706 parameters with a full C3 (the paper's 60,000 with its
    partial C3 table)."""
    model = build_model("lenet5", normalize=False)
    assert _shapes(model, torch.rand(2, *INPUT_SHAPE)) == [
        ("ReplicationPad2d", (1, 32, 32)),
        ("Conv2d", (6, 28, 28)), ("ReLU", (6, 28, 28)), ("MaxPool2d", (6, 14, 14)),
        ("Conv2d", (16, 10, 10)), ("ReLU", (16, 10, 10)), ("MaxPool2d", (16, 5, 5)),
        ("Flatten", (400,)),
        ("Linear", (120,)), ("ReLU", (120,)), ("Linear", (84,)), ("ReLU", (84,)), ("Linear", (10,)),
    ]
    assert [m.kernel_size for m in model if isinstance(m, torch.nn.Conv2d)] == [(5, 5), (5, 5)]
    assert count_params(model) == 61_706


def test_lenet5_pads_with_the_background():
    """The 2-pixel border repeats the edge pixels, background in MNIST, standardised or not."""
    pad = build_model("lenet5", normalize=True)[1]
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10:18, 12:16] = 1.0
    padded = pad(build_model("lenet5", normalize=True)[0](x))
    background = (0 - 0.1307) / 0.3081
    torch.testing.assert_close(padded[0, 0, :2], torch.full((2, 32), background))
    torch.testing.assert_close(padded[0, 0, :, -2:], torch.full((32, 2), background))


def test_cnn_bn_shapes_and_batch_normalisation():
    model = build_model("cnn_bn", normalize=False)
    shapes = _shapes(model, torch.rand(4, *INPUT_SHAPE))
    assert [s for name, s in shapes if name == "MaxPool2d"] == [(16, 14, 14), (32, 7, 7), (64, 3, 3)]
    assert shapes[-1] == ("Linear", (10,))
    assert sum(name == "BatchNorm" for name, _ in shapes) == 3
    assert sum(name == "Dropout" for name, _ in shapes) == 2
    sizes = {**default_sizes("cnn_bn"), "channels": [32, 64]}
    two = build_model("cnn_bn", sizes, normalize=False)
    assert [s for name, s in _shapes(two, torch.rand(2, *INPUT_SHAPE)) if name == "MaxPool2d"] == [
        (32, 14, 14), (64, 7, 7)]
    assert count_params(two) == (32 * 9 + 64) + (64 * 32 * 9 + 128) + (3136 * 128 + 128) + (128 * 10 + 10)
    with pytest.raises(MnistlabError, match="1 to 3 convolution blocks"):
        build_model("cnn_bn", {**default_sizes("cnn_bn"), "channels": [8, 8, 8, 8]})


def test_batch_normalisation_saves_floats_only_and_loads_back(tmp_path):
    """The running statistics are saved and restored; no int64 batch counter in the file (the
    loader accepts floating-point tensors only)."""
    torch.manual_seed(0)
    model = build_model("cnn_bn")
    model.train()
    for _ in range(3):  # move the running statistics away from their initial values
        model(torch.rand(16, *INPUT_SHAPE))
    model.eval()
    state = model.state_dict()
    assert state and all(value.is_floating_point() for value in state.values())
    assert any(key.endswith("running_var") for key in state)
    path = tmp_path / "torch_cnn_bn.pt"
    save_torch(path, model, {"model": "torch_cnn_bn", "builder": "cnn_bn", "sizes": default_sizes("cnn_bn"),
                             "normalize": True})
    images = torch.rand(5, 28, 28)
    with torch.no_grad():
        expected = torch.softmax(model(images.unsqueeze(1)), dim=1).double().numpy()
    loaded = load_model(path)
    assert abs(loaded.predict_proba(images.numpy()) - expected).max() < 1e-6


def test_predictions_do_not_depend_on_the_forward_batch():
    """The predictor's forward batch (PREDICT_BATCH, chosen for speed) changes no prediction."""
    torch.manual_seed(0)
    model = TorchPredictor(build_model("cnn_bn").eval(), {})
    images = torch.rand(1100, 28, 28).numpy()
    default = model.logits(images)
    assert PREDICT_BATCH["cpu"] < len(images) and default.shape == (1100, 10)
    for batch in (1, 7, 4096):
        np.testing.assert_allclose(model.logits(images[:50], batch_size=batch), default[:50], atol=1e-5)
    assert np.array_equal(model.logits(images, batch_size=4096).argmax(1), default.argmax(1))
