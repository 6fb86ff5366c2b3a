"""Errors of the Go-template renderer. Both are the template's (the request's
or the Model's) fault: callers answer them with a 400."""


class TemplateError(ValueError):
    """What Go's text/template refuses too (a parse or execution error)."""


class Unsupported(TemplateError):
    """Valid Go template syntax that Pasture does not render (named in the message)."""

    def __init__(self, construct: str) -> None:
        super().__init__(
            f"template: {construct} is not supported by Pasture's Go-template renderer"
        )
        self.construct = construct
