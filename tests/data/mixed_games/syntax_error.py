from gameserver import AbstractGame


class Oops(AbstractGame)
    pass
