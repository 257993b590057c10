class Value:
    name = "café"
