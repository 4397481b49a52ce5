"""``afkit completion``: the shell completion script, from click's own machinery (``click.shell_completion``).

The script calls ``afkit`` back with ``_AFKIT_COMPLETE`` set, and click answers with the commands, options and
choices that fit; so completion follows the installed afkit without being regenerated.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

PROG_NAME = "afkit"
COMPLETE_VAR = "_AFKIT_COMPLETE"  # click's name for it: _{PROG_NAME}_COMPLETE, upper case
SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script of a shell: bash (4.4+), zsh or fish.

    \b
    Install it once:
      bash:  afkit completion bash > ~/.local/share/bash-completion/completions/afkit
             (or add  eval "$(afkit completion bash)"  to ~/.bashrc)
      zsh:   afkit completion zsh > "${fpath[1]}/_afkit"
             (or add  eval "$(afkit completion zsh)"  to ~/.zshrc, after compinit)
      fish:  afkit completion fish > ~/.config/fish/completions/afkit.fish
    Then open a new shell: afkit <TAB> lists the commands, afkit backfill plan --<TAB> the options.
    """
    complete = get_completion_class(shell)(ctx.find_root().command, {}, PROG_NAME, COMPLETE_VAR)
    click.echo(complete.source())
