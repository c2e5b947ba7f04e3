"""The intermediate representations: expressions (expr.py), loop IR statements
and functions (tir.py), their printer (printer.py) and generic traversal
(visit.py).  Every node is a frozen dataclass; a pass maps IR to IR."""
