"""`Record`: one recorded training step as plain data, and `Event`, one op in it.

The format is docs/trace-record.md: `record.to_dict()` is JSON-able, `record.arrays()` holds the
arrays that were kept. Every view (the text table, the HTML table, the explorer page) renders
this one record.
"""
FORMAT = "minicnn.trace/1"


class Event(dict):
    """One event of the record: a dict with the keys of docs/trace-record.md (index, phase, op,
    module, forward_index, inputs, outputs, params, update; "sums" where a gradient is a sum)."""

    def __repr__(self):
        shapes = [s["shape"] if s else None for s in self["outputs"]]
        return (f"Event({self['index']}, {self['phase']}, {self['op']}, "
                f"module={self['module']!r}, outputs={shapes})")

    def slot(self, name):
        """The input or output slot called `name` ("x", "weight", "out", "grad_x", ...)."""
        for slot in self["inputs"] + self["outputs"]:
            if slot is not None and slot["name"] == name:
                return slot
        names = [s["name"] for s in self["inputs"] + self["outputs"] if s is not None]
        raise KeyError(f"event {self['index']} ({self['op']}) has no slot {name!r}; "
                       f"it has {names}")


class Record:
    """One training step: forward events in execution order, backward events in the order the
    engine ran them, then one update event per parameter. Index it (`record[3]`), filter it
    (`record.filter(module="conv1", op="conv2d")`), and compare two steps (`record.diff(other)`).
    """

    def __init__(self, model=None, events=None, arrays=None, loss=None, batch=None):
        self.model = model
        self.events = [] if events is None else events
        self._arrays = {} if arrays is None else arrays
        self.loss = loss
        self.batch = batch  # explain.step sets labels, predictions, class names

    # ----- plain data -----------------------------------------------------------------------
    def to_dict(self):
        """The JSON-able record of docs/trace-record.md."""
        data = {"format": FORMAT, "model": self.model, "loss": self.loss,
                "events": [dict(event) for event in self.events]}
        if self.batch is not None:
            data["batch"] = self.batch
        return data

    def arrays(self):
        """{"<event index>/<slot name>": NumPy array} for the arrays that were kept."""
        return dict(self._arrays)

    def store_array(self, key, array):
        self._arrays[key] = array

    def array(self, index, slot_name):
        """The kept array of slot `slot_name` of event `index` (KeyError if it was not kept)."""
        key = f"{index}/{slot_name}"
        if key not in self._arrays:
            raise KeyError(f"record: no kept array {key!r}; trace with keep='all' or with "
                           f"keep=[module paths] naming event {index}'s module")
        return self._arrays[key]

    # ----- indexing and filtering -----------------------------------------------------------
    def __len__(self):
        return len(self.events)

    def __iter__(self):
        return iter(self.events)

    def __getitem__(self, position):
        return self.events[position]

    def event(self, index):
        """The event whose "index" is `index` (the same as record[index] on a whole record)."""
        for event in self.events:
            if event["index"] == index:
                return event
        raise KeyError(f"record: no event with index {index}")

    @property
    def forward(self):
        return [e for e in self.events if e["phase"] == "forward"]

    @property
    def backward(self):
        return [e for e in self.events if e["phase"] == "backward"]

    @property
    def updates(self):
        return [e for e in self.events if e["phase"] == "update"]

    def filter(self, module=None, op=None, phase=None):
        """A Record of the events run by `module` (that path or inside it), of op `op`, in
        `phase`; events keep their original indices, and the kept arrays are shared."""
        def wanted(event):
            inside = (module is None or module == "" or event["module"] == module
                      or event["module"].startswith(module + "."))
            return (inside and (op is None or event["op"] == op)
                    and (phase is None or event["phase"] == phase))
        return Record(self.model, [e for e in self.events if wanted(e)], self._arrays,
                      self.loss, self.batch)

    def diff(self, other):
        """Compare this step with a later one: which weights moved most, which gradients
        shrank. Returns a `minicnn.trace.StepDiff` (a text table when printed)."""
        from minicnn.trace.diff import StepDiff
        return StepDiff(self, other)

    def zoom(self, index):
        """The worked arithmetic of event `index` as JSON-able data (minicnn.explain.zoom)."""
        from minicnn.explain.zoom import zoom
        return zoom(self, index)

    # ----- views ----------------------------------------------------------------------------
    def __repr__(self):
        from minicnn.explain.text import record_table
        return record_table(self)

    def _repr_html_(self):
        from minicnn.explain.html import record_html
        return record_html(self)
