"""Learning-rate schedules: ``callable(epoch, base_lr) -> lr`` with a 0-based epoch."""

__all__ = ["StepDecay", "ExponentialDecay", "InverseTimeDecay", "make_schedule",
           "SCHEDULES"]


def _positive(name, value):
    if not value > 0:
        raise ValueError("%s must be > 0, got %r" % (name, value))


class StepDecay:
    """lr = lr0 · gamma^floor(epoch / step_size) (PyTorch's ``StepLR``)."""

    def __init__(self, step_size=10, gamma=0.1):
        if step_size < 1:
            raise ValueError("step_size must be >= 1, got %r" % (step_size,))
        _positive("gamma", gamma)
        self.step_size = step_size
        self.gamma = gamma

    def __call__(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)

    def __repr__(self):
        return "StepDecay(step_size=%r, gamma=%r)" % (self.step_size, self.gamma)


class ExponentialDecay:
    """lr = lr0 · gamma^epoch (PyTorch's ``ExponentialLR``)."""

    def __init__(self, gamma=0.95):
        _positive("gamma", gamma)
        self.gamma = gamma

    def __call__(self, epoch, base_lr):
        return base_lr * self.gamma ** epoch

    def __repr__(self):
        return "ExponentialDecay(gamma=%r)" % (self.gamma,)


class InverseTimeDecay:
    """lr = lr0 / (1 + decay_rate · epoch), the course's learning-rate decay
    (Coursera "Improving Deep Neural Networks", week 2)."""

    def __init__(self, decay_rate=1.0):
        if not decay_rate >= 0:
            raise ValueError("decay_rate must be >= 0, got %r" % (decay_rate,))
        self.decay_rate = decay_rate

    def __call__(self, epoch, base_lr):
        return base_lr / (1.0 + self.decay_rate * epoch)

    def __repr__(self):
        return "InverseTimeDecay(decay_rate=%r)" % (self.decay_rate,)


SCHEDULES = {"step": StepDecay, "exponential": ExponentialDecay, "exp": ExponentialDecay,
             "inverse-time": InverseTimeDecay, "inverse_time": InverseTimeDecay}


def make_schedule(spec):
    """A schedule from None, a callable, a name of :data:`SCHEDULES` or ``(name, kwargs)``."""
    if spec is None or callable(spec):
        return spec
    if isinstance(spec, str):
        spec = (spec, {})
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str):
        cls = SCHEDULES.get(spec[0].lower())
        if cls is not None:
            return cls(**dict(spec[1]))
    raise ValueError("lr_schedule must be None, 'step', 'exponential', 'inverse-time', "
                     "('step', {...}), a StepDecay/ExponentialDecay/InverseTimeDecay or a "
                     "callable(epoch, base_lr), got %r" % (spec,))
