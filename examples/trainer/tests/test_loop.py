"""The optimizer's guard: a step that would leave non-finite weights is never kept."""

import math

import torch

from text_trainer.loop import Optimizer
from text_trainer.settings import Settings


def optimizer_for(model, learning_rate):
    return Optimizer(model, Settings(learning_rate=learning_rate, warmup_ratio=0.0), total_steps=10)


def test_a_finite_step_is_taken_and_can_be_undone():
    model = torch.nn.Linear(2, 1)
    opt = optimizer_for(model, 0.1)
    start = model.weight.detach().clone()
    loss = model(torch.ones(1, 2)).sum()
    assert opt.step(loss)
    after_one = model.weight.detach().clone()
    assert not torch.equal(after_one, start)
    assert opt.step(model(torch.ones(1, 2)).sum())
    opt.undo("the model sampled nonsense")
    # Undo takes back the step before the last one as well: the weights the last good sample came from.
    assert torch.equal(model.weight.detach(), after_one)
    assert opt.stopped == "the model sampled nonsense; undid the last step"


def test_a_non_finite_loss_is_not_stepped_on():
    model = torch.nn.Linear(2, 1)
    opt = optimizer_for(model, 0.1)
    start = model.weight.detach().clone()
    assert not opt.step(model(torch.ones(1, 2)).sum() * math.inf)
    assert torch.equal(model.weight.detach(), start)
    assert "non-finite loss" in opt.stopped


def test_a_step_that_leaves_a_weight_non_finite_is_undone():
    model = torch.nn.Linear(2, 1)
    opt = optimizer_for(model, math.inf)
    start = model.weight.detach().clone()
    assert not opt.step(model(torch.ones(1, 2)).sum())
    assert torch.equal(model.weight.detach(), start)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert "non-finite weights" in opt.stopped
