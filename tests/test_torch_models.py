"""Shapes and parameter counts of the PyTorch models, and the twins' equivalence with a patch embedding."""

import pytest
import torch

from mnistlab.core.errors import MnistlabError
from mnistlab.models.registry import MODELS
from mnistlab.models.torch_models.models import (
    BUILDERS,
    INPUT_SHAPE,
    Normalize,
    build_model,
    count_params,
    default_sizes,
)

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
