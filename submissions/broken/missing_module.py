import numpy_but_misspelled as np


class Value:
    pass
