"""CLI."""


def main() -> None: ...
