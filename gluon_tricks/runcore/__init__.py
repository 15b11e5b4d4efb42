"""The run core ``train``, ``detect`` and ``segment`` share: the run folder and its files
(:mod:`.folder`), the options every run has (:mod:`.settings`), resuming (:mod:`.resume`) and the
fit loop around a task's own step and evaluation (:mod:`.loop`)."""
