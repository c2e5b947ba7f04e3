"""Stage groups (TVM's create_group): several stages placed together.

    x = placeholder; x1 = x + 1; x2 = x1 * 2; y = x2 + x        (y the output)
    g = s.create_group(outputs=x2, inputs=x)       g holds x1 and x2
    g.compute_at(s[y], y.op.axis[0])               both computed inside y's row loop

The group's members are the stages between its inputs and its outputs (the
inputs themselves only with include_inputs=True).  compute_at on the group
places every member that is at root (the group's own roots) at the loop;
members computed at another member keep that place, so the group keeps its
inner structure.  s[T].group is the innermost group a stage belongs to (or None).

Groups nest as in TVM: a new group may take in whole existing groups, which
become its subgroups (g.group is the enclosing group); it may not cut one.

    g1 = s.create_group(outputs=x, inputs=x, include_inputs=True)      # {x}
    g2 = s.create_group(outputs=x1, inputs=x, include_inputs=True)     # {x1, g1}
    g2.compute_at(s[x2], i)      # x1 and x (g1's root) at x2's loop i
    g1.compute_at(s[x1], j)      # x moves inside x1's loop j; x1 stays at i
"""
from __future__ import annotations

from .stage import ScheduleError, Stage


class Group:
    """A set of stages scheduled as one (see module docstring)."""

    def __init__(self, schedule, name: str, members: list, parent=None):
        self.schedule, self.name, self.members = schedule, name, members
        self.attach_stage = self.attach_ivar = None      # where compute_at put it
        self.group = parent                              # the enclosing group (nesting)

    def _roots(self) -> list:
        """Members at root, and those an enclosing group's compute_at placed (a
        group's roots move with it; a subgroup's own placement is its own)."""
        return [m for m in self.members if m.attach_type == "root" or _placed_by(m, self)]


    def compute_at(self, parent, iv):
        """Compute the group's root members inside loop iv of stage parent."""
        if not isinstance(parent, Stage):
            raise ScheduleError(f"compute_at: group {self.name}: target must be a stage (s[T]), "
                                f"got {parent!r}")
        if parent in self.members:
            raise ScheduleError(f"compute_at: group {self.name}: target stage {parent.name} is a "
                                "member of the group; a group is computed at a stage outside it")
        iv = parent._leaf("compute_at", iv)
        roots = self._roots()
        if not roots:
            raise ScheduleError(f"compute_at: group {self.name}: no member is at root (every one "
                                "is inlined or computed at another stage)")
        for m in sorted(roots, key=lambda m: not m.is_output):     # the clearer error first
            if parent.attach_type == "inline":
                raise m._error("compute_at", iv, f"target stage {parent.name} is inlined")
            self._check_member(m, parent, iv)
        for m in roots:
            m.attach_type, m.attach_stage, m.attach_ivar = "scope", parent, iv
            m.placed_by = self
        self.attach_stage, self.attach_ivar = parent, iv
        self.schedule.trace.record("group_compute_at", self.name,
                                   {"target": parent.name, "axis": parent.axis_key(iv)})

    def _check_member(self, m, parent, iv) -> None:
        if m.is_output:
            raise m._error("compute_at", iv, "an output tensor cannot be computed at another "
                           "stage (it is a member of the group)")
        if not self.schedule._reads(parent, m):
            raise m._error("compute_at", iv, f"stage {parent.name} does not consume {m.name}")
        m._check_consumers_can_follow(parent, iv)

    def __repr__(self):
        return f"Group({self.name}, members={[m.name for m in self.members]})"


def _placed_by(m, group) -> bool:
    """Whether m is where group or a group enclosing it put it (and not moved since)."""
    g = getattr(m, "placed_by", None)
    return g in _chain(group) and m.attach_type == "scope" and \
        (m.attach_stage, m.attach_ivar) == (g.attach_stage, g.attach_ivar)


def _as_list(tensors) -> list:
    if tensors is None:
        return []
    return list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]


def create_group(sch, outputs, inputs, include_inputs: bool = False) -> Group:
    """The group of stages from inputs (exclusive unless include_inputs) to outputs."""
    outs = [sch[t] for t in _as_list(outputs)]
    ins = [sch[t] for t in _as_list(inputs)]
    if not outs:
        raise ScheduleError("create_group: needs at least one output tensor")
    if not isinstance(include_inputs, bool):
        raise ScheduleError(f"create_group: include_inputs must be a bool, got {include_inputs!r}")
    members = _between(sch, outs, ins, include_inputs)
    parent = _common_parent(sch, members)
    group = Group(sch, f"group{len(sch.groups)}", members, parent)
    for sub in sch.groups:                 # whole groups directly under parent nest in it
        if sub.group is parent and set(sub.members) <= set(members):
            sub.group = group
    sch.groups.append(group)
    for m in members:
        if m.group is parent:
            m.group = group
    sch.trace.record("create_group", outs[0].name,
                     {"outputs": [o.name for o in outs], "inputs": [i.name for i in ins],
                      "include_inputs": include_inputs, "results": [group.name]})
    return group


def _common_parent(sch, members) -> "Group":
    """The innermost group holding every member (None: the schedule itself); every
    group below it that holds a member must lie wholly in members."""
    chains = [_chain(m.group) for m in members]
    parent = None
    for g in chains[0] if chains else ():
        if all(g in c for c in chains):
            parent = g
            break
    inside = set(members)
    for c in chains:
        for g in c[:c.index(parent) if parent in c else len(c)]:
            if not set(g.members) <= inside:
                cut = next(m for m in members if g in _chain(m.group))
                raise ScheduleError(f"create_group: stage {cut.name} belongs to group {g.name}, "
                                    "which the new group would only partly hold; groups nest "
                                    "but cannot overlap")
    return parent


def _chain(group) -> list:
    """group and the groups enclosing it, innermost first."""
    out = []
    while group is not None:
        out.append(group)
        group = group.group
    return out


def _between(sch, outs, ins, include_inputs) -> list:
    """Computed stages on the paths up from outs, stopping at ins; producers first."""
    found, todo = set(), list(outs)
    while todo:
        st = todo.pop()
        if st in found:
            continue
        if st in ins:
            if include_inputs:
                found.add(st)
            continue
        found.add(st)
        todo += [sch.stage_map[t.op] for t in st.op.input_tensors if t.op in sch.stage_map]
    missing = [i for i in ins if i not in found and include_inputs]
    if missing:
        raise ScheduleError(f"create_group: input {missing[0].name} is not read on the way to "
                            "the group's outputs")
    return [st for st in sch.stages if st in found and not st.is_placeholder]

