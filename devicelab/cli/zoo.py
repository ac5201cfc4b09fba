"""`devicelab zoo list|build`: the reference models."""

from __future__ import annotations

from typing import Annotated

import typer

from devicelab.cli.base import CacheOpt, _Bars, _cache, app, console

zoo_app = typer.Typer(help="Reference models of the study, built as code and trained offline.", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")


@zoo_app.command("list")
def zoo_list() -> None:
    """List the zoo models."""
    from rich.table import Table

    from devicelab.models.zoo import ZOO

    table = Table(title="Zoo", title_justify="left")
    for column in ("name", "input", "trains on", "description"):
        table.add_column(column)
    for entry in ZOO.values():
        table.add_row(entry.name, str(entry.input_shape), entry.dataset or "(untrained offline)", entry.description)
    console.print(table)


@zoo_app.command("build")
def zoo_build(
    name: Annotated[str, typer.Argument(help="lenet1, lenet5 or resnet20.")],
    data: Annotated[str | None, typer.Option("--data", help="Training data (default: the model's own; "
                                             "resnet20 needs keras:cifar10, online).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (default: the zoo's recipe).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (training is deterministic for a seed).")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Retrain even if cached.")] = False,
    cache_dir: CacheOpt = None,
) -> None:
    """Build (train) a zoo model once; later uses come from the cache."""
    from devicelab import api

    with _Bars() as bars:
        path, info = api.zoo_build(name, dataset=data, epochs=epochs, seed=seed, force=force,
                                   cache=_cache(cache_dir), progress=bars)
    if info.get("trained"):
        console.print(f"{name}: test accuracy {info['test_accuracy'] * 100:.2f}% on {info['test_samples']} samples, "
                      f"trained in {info['train_seconds']} s")
    else:
        console.print(f"{name}: built untrained (no training data given)")
    console.print(str(path))
