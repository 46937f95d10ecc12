from gameserver.games.echo import Echo as _Echo


class Echo(_Echo):
    """Same class name as a bundled game: must be refused."""
