"""moto's expression parsing, once per expression string, for the embedded engine.

The handlers send the same few expression strings on every call (the keepalive's touch: ``SET #key
= :key, #at = :at`` if ``#hash = :hash AND #key < :key``), and moto parses them afresh each time,
twice per UpdateItem (its request handler, then its backend), then deep-copies the update tree for
its validator: about a fifth of the CPU of a conditional UpdateItem. Here:

- an update expression's tree depends on the string alone (names and values are resolved by the
  validator, per call): it is parsed once and kept pickled, and each call gets a fresh tree
  (``pickle.loads``), so nothing one call's validator does can reach another's;
- the validator's own copy of that tree (it rewrites the copy in place) is a pickle round trip
  instead of ``copy.deepcopy``: the same objects, several times faster;
- a condition expression's tokens depend on the string alone: the lexing is done once, and each
  call gets fresh tokens; everything after it (names and values looked up, the tree built and
  checked) runs on every call with that call's ``ExpressionAttributeNames``/``Values``.

An expression that fails to parse is not kept: it fails the same way on every call. At most
``MAX_EXPRESSIONS`` strings of each kind are kept (the cache is emptied when full).
"""

from __future__ import annotations

import pickle
from collections import deque
from typing import Any

MAX_EXPRESSIONS = 512

_update_trees: dict[str, bytes] = {}
_condition_tokens: dict[str, tuple[Any, ...]] = {}
originals: dict[str, Any] = {}  # moto's own functions, as they were before install() (for tests)


def install() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import UpdateExpression  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    make = UpdateExpressionParser.make.__func__
    lex = ConditionExpressionParser._lex_condition_expression
    deepcopy = validators.deepcopy
    originals.update(make=UpdateExpressionParser.make, lex=lex, deepcopy=deepcopy)

    def make_once(cls: Any, expression_str: str) -> Any:
        if cls is not UpdateExpressionParser or not isinstance(expression_str, str):
            return make(cls, expression_str)
        blob = _update_trees.get(expression_str)
        if blob is None:
            tree = make(cls, expression_str)  # raises for an invalid expression: nothing kept
            try:
                blob = pickle.dumps(tree, pickle.HIGHEST_PROTOCOL)
            except Exception:  # a tree that does not pickle is simply not kept
                return tree
            if len(_update_trees) >= MAX_EXPRESSIONS:
                _update_trees.clear()
            _update_trees[expression_str] = blob
        return pickle.loads(blob)  # noqa: S301 - our own bytes; a fresh tree for this call

    def lex_once(self: Any) -> deque[Any]:
        expression = self.condition_expression
        if not isinstance(expression, str):
            return lex(self)
        tokens = _condition_tokens.get(expression)
        if tokens is None:
            tokens = tuple(lex(self))  # raises for an invalid expression: nothing kept
            if len(_condition_tokens) >= MAX_EXPRESSIONS:
                _condition_tokens.clear()
            _condition_tokens[expression] = tokens
        return deque(token._replace(children=list(token.children)) for token in tokens)

    def tree_copy(value: Any, memo: Any = None) -> Any:
        if type(value) is UpdateExpression:  # the validator's copy of a whole parsed tree
            try:
                blob = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
            except Exception:  # moto's own copy then
                return deepcopy(value, memo)
            return pickle.loads(blob)  # noqa: S301 - bytes this line's caller just made
        return deepcopy(value, memo)

    UpdateExpressionParser.make = classmethod(make_once)
    ConditionExpressionParser._lex_condition_expression = lex_once  # type: ignore[method-assign]
    validators.deepcopy = tree_copy  # type: ignore[assignment]
