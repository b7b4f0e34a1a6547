import torch

from bitcluster.training.nets.binary_concrete import binary_concrete, deterministic_code


def test_hard_sample_is_binary_with_relaxed_gradient():
    logits = torch.randn(64, 16, requires_grad=True)
    z = binary_concrete(logits, tau=0.5, hard=True, generator=torch.Generator().manual_seed(0))
    assert set(torch.unique(z.detach()).tolist()) <= {0.0, 1.0}
    z.sum().backward()
    # d sigmoid / d logit > 0, but float32 saturates it to exactly 0 far from the threshold
    assert logits.grad is not None and (logits.grad >= 0).all()
    assert (logits.grad > 0).float().mean() > 0.9


def test_sample_frequency_matches_bernoulli_probability():
    # P(sigmoid((l + logistic) / tau) > 0.5) = sigmoid(l), whatever tau
    logits = torch.tensor([-2.0, -0.5, 0.0, 1.0, 3.0]).repeat(40000, 1)
    gen = torch.Generator().manual_seed(1)
    for tau in (1.0, 0.3):
        freq = binary_concrete(logits, tau=tau, hard=True, generator=gen).mean(0)
        torch.testing.assert_close(freq, torch.sigmoid(logits[0]), atol=0.01, rtol=0)


def test_relaxed_sample_is_in_unit_interval_and_sharpens_with_low_temperature():
    logits = torch.zeros(10000)
    gen = torch.Generator().manual_seed(2)
    soft = binary_concrete(logits, tau=5.0, hard=False, generator=gen)
    sharp = binary_concrete(logits, tau=0.1, hard=False, generator=gen)
    assert ((soft > 0) & (soft < 1)).all()
    assert (sharp - 0.5).abs().mean() > (soft - 0.5).abs().mean()


def test_deterministic_code_thresholds_probability_at_one_half():
    assert deterministic_code(torch.tensor([[-0.1, 0.0, 0.1]])).tolist() == [[0, 0, 1]]
