"""Batched augmentation: shape, dtype and range kept, identity when off, reproducible, correct geometry."""

import math

import pytest
import torch

from mnistlab.models.torch_models.augment import (
    Augmenter,
    homographies,
    perspective_matrices,
    rotation_matrices,
    shift_images,
)


@pytest.fixture
def images():
    return torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_keeps_shape_dtype_and_range(images):
    out = Augmenter(15, 0.3, 1.0)(images, torch.Generator().manual_seed(1))
    assert out.shape == images.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, images)


@pytest.mark.parametrize(
    "augmenter",
    [Augmenter(10, 0.2, 0.5, enabled=False, max_shift=2), Augmenter(0, 0.0, 0.5), Augmenter(0, 0.3, 0.0)],
)
def test_identity_when_disabled(images, augmenter):
    assert augmenter.is_identity
    assert augmenter(images, torch.Generator()) is images


def test_seeded_draws_are_reproducible(images):
    aug = Augmenter(10, 0.2, 0.5)
    a = aug(images, torch.Generator().manual_seed(3))
    b = aug(images, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_zero_angle_rotation_resamples_exactly(images):
    aug = Augmenter(1e-12, 0.0, 0.0)
    torch.testing.assert_close(aug(images, torch.Generator()), images, atol=1e-5, rtol=0)


def test_quarter_turn_matches_rot90():
    x = torch.rand(2, 1, 28, 28)
    aug = Augmenter(90, 0.0, 0.0)
    aug.matrices = lambda n, generator, size: rotation_matrices(torch.full((n,), math.pi / 2))
    out = aug(x, torch.Generator())
    torch.testing.assert_close(out, torch.rot90(x, 1, dims=(2, 3)), atol=1e-5, rtol=0)


def test_homography_maps_the_four_points():
    gen = torch.Generator().manual_seed(0)
    src = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]).expand(4, 4, 2)
    dst = src + 0.2 * torch.rand(4, 4, 2, generator=gen)
    h = homographies(src, dst)
    mapped = torch.cat([src, torch.ones(4, 4, 1)], -1) @ h.transpose(1, 2)
    torch.testing.assert_close(mapped[..., :2] / mapped[..., 2:], dst, atol=1e-5, rtol=0)


def test_perspective_probability_zero_is_identity():
    mats = perspective_matrices(8, 0.5, 0.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(mats, torch.eye(3).expand(8, 3, 3), atol=1e-6, rtol=0)


def test_whole_pixel_shifts_are_exact_and_fill_with_zeros():
    x = torch.rand(2, 3, 28, 28)
    expected = torch.zeros_like(x)
    expected[0, :, :27, 2:] = x[0, :, 1:, :26]  # content moves 2 right and 1 up
    expected[1, :, 2:, :] = x[1, :, :26, :]  # 2 down
    assert torch.equal(shift_images(x, torch.tensor([[2, -1], [0, 2]]), 2), expected)


def test_shift_only_augmentation_matches_the_sampling_grid_of_its_draws():
    """The indexing fast path gives what the general path (grid_sample) gives for the same draws."""
    x = torch.rand(64, 1, 28, 28)
    aug = Augmenter(0, 0.0, 0.0, max_shift=2)
    fast = aug(x, torch.Generator().manual_seed(3))
    grid = aug.warp(x, aug.matrices(64, torch.Generator().manual_seed(3)))
    torch.testing.assert_close(fast, grid, atol=1e-5, rtol=0)


def test_random_shifts_stay_within_max_shift():
    x = torch.zeros(200, 1, 28, 28)
    x[:, :, 14, 14] = 1.0
    out = Augmenter(0, 0.0, 0.0, max_shift=1)(x, torch.Generator().manual_seed(0))
    peak = out[:, 0].flatten(1).argmax(1)
    rows, cols = peak.div(28, rounding_mode="floor"), peak % 28
    assert set(rows.tolist()) == {13, 14, 15} and set(cols.tolist()) == {13, 14, 15}
    torch.testing.assert_close(out.sum(dim=(1, 2, 3)), torch.ones(200))
