"""pykan's ``kan.hypothesis`` (separability, symmetry, the tree converter): part of KAN 2.0, not in kanlab yet.
Each function raises NotImplementedError naming itself, so a ported notebook stops at the first call that needs
it, with a clear message."""

__all__ = ["detect_separability", "test_separability", "test_general_separability", "test_symmetry", "plot_tree",
           "get_molecule", "get_tree_node", "batch_grad_normgrad", "get_dependence", "test_Lagrangian"]


def _missing(name: str):
    def fn(*args, **kwargs):
        raise NotImplementedError(f"kan.hypothesis.{name} is part of KAN 2.0, which kanlab does not implement yet")

    fn.__name__ = name
    return fn


for _name in __all__:
    globals()[_name] = _missing(_name)
del _name
