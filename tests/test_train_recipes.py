"""Every model of the zoo has a recipe whose options the model accepts."""
import pytest

from minicnn import models, recipes


@pytest.mark.parametrize("name", models.names())
@pytest.mark.parametrize("profile", recipes.PROFILES)
def test_every_model_has_a_recipe_it_accepts(name, profile):
    recipe = recipes.get(name, profile)
    accepted = models.options(name)
    assert set(recipe.build) <= set(accepted), f"{name}: {set(recipe.build) - set(accepted)}"
    assert recipe.epochs >= 1 and recipe.batch_size >= 1 and recipe.lr > 0
    assert recipe.optimizer in ("sgd", "adam") and recipe.schedule in ("none", "step", "cosine")


@pytest.mark.parametrize("name", models.names())
def test_cpu_profile_builds_a_small_input_model(name):
    recipe = recipes.get(name, "cpu")
    model = models.build(name, num_classes=10, in_channels=1, **recipe.build)
    C, H, W = model.default_input_size
    assert C == 1 and H <= 64 and W <= 64, "the cpu profile must not need ImageNet-sized inputs"


def test_overrides_and_errors():
    recipe = recipes.with_overrides(recipes.get("lenet5"), lr=0.5, epochs=None)
    assert recipe.lr == 0.5 and recipe.epochs == recipes.get("lenet5").epochs
    with pytest.raises(ValueError, match="no recipe for model 'foo'"):
        recipes.get("foo")
    with pytest.raises(ValueError, match="unknown recipe profile"):
        recipes.get("lenet5", "gpu")
