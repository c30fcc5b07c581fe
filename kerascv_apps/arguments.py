"""Which keyword arguments a builder or loader accepts, so unknown ``--model-arg`` /
``--dataset-arg`` keys are refused up front, naming the accepted ones.

Variant functions usually forward ``**kwargs`` to a family builder (``def lenet5(**kwargs):
return LeNet5(**kwargs)``); the forwarding call is followed through the module's globals.
"""

import ast
import inspect
import textwrap


def accepted_arguments(fn, _depth=0):
    """Sorted names ``fn`` accepts as keywords, or ``None`` when that cannot be told."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    names = {n for n, p in sig.parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    var_kw = [n for n, p in sig.parameters.items() if p.kind == p.VAR_KEYWORD]
    if not var_kw:
        return sorted(names)
    if _depth > 4:
        return None
    forwarded = _forwarded_to(fn, var_kw[0])
    if not forwarded:
        return None
    for callee, fixed in forwarded:
        inner = accepted_arguments(callee, _depth + 1)
        if inner is None:
            return None
        names |= set(inner) - fixed
        names |= set(getattr(callee, "extra_keywords", ()))
    return sorted(names)


def _forwarded_to(fn, var_kw):
    """[(callee, keywords the call fixes)] for each call passing ``**<var_kw>`` on."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    scope = dict(getattr(fn, "__globals__", {}))
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fixed = {k.arg for k in node.keywords if k.arg}
        passes = False
        for k in node.keywords:
            if k.arg is not None:
                continue
            if isinstance(k.value, ast.Name) and k.value.id == var_kw:
                passes = True
            elif (isinstance(k.value, ast.Call)  # f(**variant_arguments(v, arch, kwargs))
                  and getattr(_resolve(k.value.func, scope), "merges_keywords", False)
                  and any(isinstance(a, ast.Name) and a.id == var_kw for a in k.value.args)):
                passes = True
            elif isinstance(k.value, ast.Dict):  # f(**{"name": "x", **kwargs})
                for key, value in zip(k.value.keys, k.value.values):
                    if key is None and isinstance(value, ast.Name) and value.id == var_kw:
                        passes = True
        callee = _resolve(node.func, scope)
        if not passes and node.args and getattr(callee, "forwards_keywords_to_first_argument",
                                                False):
            # create_variant(Builder, variant, arch_args, kwargs): the keywords go to Builder
            if any(isinstance(a, ast.Name) and a.id == var_kw for a in node.args):
                builder = _resolve(node.args[0], scope)
                if builder is None:
                    return None
                out.append((_with_extras(builder, callee), fixed))
            continue
        if not passes:
            continue
        if callee is None:
            return None
        out.append((callee, fixed | _filled_positionally(callee, len(node.args))))
    return out


def _filled_positionally(fn, count):
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return set()
    return {p.name for p in params[:count] if p.kind == p.POSITIONAL_OR_KEYWORD}


def _with_extras(builder, forwarder):
    """``builder`` seen through ``forwarder``: also accepts the forwarder's own keywords."""
    extras = tuple(getattr(forwarder, "extra_keywords", ()))
    if not extras:
        return builder

    def accepts(**kwargs):
        return builder(**kwargs)

    accepts.__signature__ = inspect.signature(builder)
    accepts.extra_keywords = extras
    return accepts


def _resolve(node, scope):
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, scope)
        return getattr(base, node.attr, None) if base is not None else None
    return None


def check_arguments(fn, kwargs, flag, owner):
    """Raises ``ValueError`` for keys of ``kwargs`` that ``fn`` does not accept."""
    accepted = accepted_arguments(fn)
    if accepted is None or not kwargs:
        return
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown:
        raise unknown_arguments_error(unknown, flag, owner, accepted)


def unknown_arguments_error(unknown, flag, owner, accepted=None):
    listed = f"accepted keys: {', '.join(accepted)}" if accepted else \
        f"see help({getattr(owner, '__name__', owner)}) for the accepted keys"
    return ValueError(f"{flag} {', '.join(unknown)}: not accepted by {owner}; {listed}")


def call_checked(fn, kwargs, flag, owner):
    """``fn(**kwargs)``; a keyword ``fn`` does not know becomes a ``ValueError`` naming ``flag``
    (for builders whose accepted keys could not be read beforehand)."""
    import re

    try:
        return fn(**kwargs)
    except TypeError as e:
        m = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if not m or m.group(1) not in kwargs:
            raise
        raise unknown_arguments_error([m.group(1)], flag, owner, accepted_arguments(fn)) from None
