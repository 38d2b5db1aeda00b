"""The CLI's subcommands, one module each."""

#: Subcommands (name -> ``module:attribute``), imported only when used: start-up time matters, people run
#: this on every commit. Here, without imports, so that :mod:`paracrine.entry` can route without click.
LAZY_COMMANDS = {
    "deploy": "paracrine.commands.deploy:deploy",
    "graph": "paracrine.commands.deploy:graph",
    "facts": "paracrine.commands.facts:facts",
    "ops": "paracrine.commands.ops:ops",
    "op": "paracrine.commands.op:op",
    "run": "paracrine.commands.run:run_command",
    "disconnect": "paracrine.commands.disconnect:disconnect",
    "agent": "paracrine.commands.agent:agent",
    "watch": "paracrine.commands.watch:watch",
    "lab": "paracrine.lab.cli:lab",
}
