"""The domain: the model, its rules and checks, serialisation, errors, the values the layers exchange; no daemon."""
