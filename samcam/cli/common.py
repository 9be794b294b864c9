"""What every ``samcam`` subcommand shares: flags, argument types, summaries, logging."""
from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import logging
import re
import statistics
import sys
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..batch import BatchResult, describe_failures, group_failures
from ..names import read_name_list
from ..refine import available_rules, get_rule, rule_origin, rule_problems
from ..rules import RULES, ConceptRuleParams, OfficialRuleParams, SamcamRuleParams
from ..rules.concept import CONCEPT_FLAGS
from .flags import add_settings_flags

__all__ = [
    "HelpFormatter",
    "Parser",
    "add_option",
    "ListOrChoose",
    "list_or_choose",
    "add_batch_arguments",
    "add_rule_arguments",
    "rule_params",
    "named_dir",
    "positive_int",
    "class_count",
    "names_or_list",
    "report_batch",
    "change_summary",
    "print_failures",
    "failure_hint",
    "print_internal_errors",
    "show_log",
]


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` of every samcam command: every default shown, listings kept as written.

    An option with a value whose help does not mention its default gets
    ``(default: X)``; options without a default (None) or flags (False) get nothing.
    In descriptions and epilogs, a paragraph with indented lines (a listing) is kept
    as written; other paragraphs are wrapped.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text.lower() or not action.option_strings or action.nargs == 0
                or default is None or default is False or default is argparse.SUPPRESS or default == []):
            return text
        return text + " (default: %(default)s)"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            lines = paragraph.splitlines()
            if any(line.startswith(" ") for line in lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(paragraphs)


class Parser(argparse.ArgumentParser):
    """The parser of samcam and of each subcommand.

    Errors are one line, ``samcam refine: error: ...``, with no usage dump (``--help``
    shows it): an unknown flag is named, with the closest known one
    (``unknown flag --lables (did you mean --labels?)``), before anything else is
    checked, and every missing required flag is named at once. Options made required
    with :func:`add_option` (also reachable by a hidden old spelling, which argparse's
    own ``required`` would not accept) count as required. ``epilog_factory`` makes the
    epilog when ``--help`` is shown (a listing that imports plug-ins is not made on
    every command).
    """

    def __init__(self, *args, epilog_factory: Optional[Callable[[], str]] = None, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.required_options: List[Tuple[str, str]] = []
        self.epilog_factory = epilog_factory

    def parse_known_args(self, args=None, namespace=None):
        # argparse checks required flags before it looks at unknown ones, so a typo such as
        # --lables would be reported as "--labels is required": check them ourselves, after.
        required = [a for a in self._actions if a.required and a.option_strings]
        self._set_aside = required  # --help, shown while parsing, still shows them as required
        with _not_required(required):
            namespace, extras = super().parse_known_args(args, namespace)
        unknown = [text for text in extras if text.startswith("-") and text != "-"]
        if unknown:
            self.error(self._unknown_flags(unknown))
        missing = self._missing(namespace, required)
        if missing:
            self.error(f"missing required flag{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        return namespace, extras

    def _missing(self, namespace: argparse.Namespace, required: Sequence[argparse.Action]) -> List[str]:
        """The required flags not given, in the parser's order."""
        absent = {a.option_strings[0] for a in required if getattr(namespace, a.dest, None) is None}
        absent |= {flag for flag, dest in self.required_options if getattr(namespace, dest, None) in (None, [])}
        return [flag for action in self._actions for flag in action.option_strings[:1] if flag in absent]

    def _unknown_flags(self, unknown: Sequence[str]) -> str:
        known = [flag for action in self._actions if action.help is not argparse.SUPPRESS
                 for flag in action.option_strings]
        parts = [_with_suggestion(text.split("=", 1)[0], known) for text in unknown]
        return f"unknown flag{'s' if len(parts) > 1 else ''} {', '.join(parts)}"

    def error(self, message: str):
        """Print ``{prog}: error: {message}`` (one line, no usage) and exit 2."""
        self.exit(2, f"{self.prog}: error: {message}\n")

    def _shown_required(self, format_method):
        """Run a formatter with :func:`add_option`'s required options shown as required (no brackets)."""
        flags = {flag for flag, _ in self.required_options}
        actions = [a for a in self._actions if not a.required and flags.intersection(a.option_strings)]
        actions += [a for a in getattr(self, "_set_aside", []) if not a.required]
        for action in actions:
            action.required = True
        try:
            return format_method()
        finally:
            for action in actions:
                action.required = False

    def format_usage(self) -> str:
        return self._shown_required(super().format_usage)

    def format_help(self) -> str:
        if self.epilog_factory is not None:  # listings of plug-ins: imported for --help only
            self.epilog = self.epilog_factory()
        return self._shown_required(super().format_help)


@contextlib.contextmanager
def _not_required(actions: Sequence[argparse.Action]):
    """The actions made optional for the duration (the caller checks them itself)."""
    for action in actions:
        action.required = False
    try:
        yield
    finally:
        for action in actions:
            action.required = True


def _with_suggestion(flag: str, known: Sequence[str]) -> str:
    """``flag``, with ``(did you mean --x?)`` when a known flag is close (compared without the dashes)."""
    bare = {k.lstrip("-"): k for k in known}
    close = difflib.get_close_matches(flag.lstrip("-"), list(bare), n=1, cutoff=0.7)
    return flag + (f" (did you mean {bare[close[0]]}?)" if close else "")


def add_option(parser: argparse.ArgumentParser, flag: str, *, aliases: Sequence[str] = (), required: bool = False,
               **kwargs) -> argparse.Action:
    """``parser.add_argument(flag, ...)`` plus old spellings ``aliases`` that still work but are
    not shown in ``--help`` (e.g. refine's ``--pseudo`` for ``--labels``).

    ``required`` is checked by :class:`Parser` after parsing, so an alias satisfies it.
    """
    dest = kwargs.pop("dest", flag.lstrip("-").replace("-", "_"))
    action = parser.add_argument(flag, dest=dest, **kwargs)
    hidden = {key: value for key, value in kwargs.items() if key not in ("help", "metavar")}
    for alias in aliases:
        parser.add_argument(alias, dest=dest, help=argparse.SUPPRESS, **hidden)
    if required:
        if isinstance(parser, Parser):
            parser.required_options.append((flag, dest))
        else:  # a plain argparse parser (a plug-in's): aliases cannot satisfy required here
            action.required = True
    return action


class ListOrChoose(argparse.Action):
    """An option that takes one value, or, given alone, prints what it can be and exits 0.

    ``samcam-adapt --method`` lists the installed methods and ``--rule`` the installed
    rules (built in and plug-ins) this way, before the other required flags are asked for.
    Build it with :func:`list_or_choose`.
    """

    listing: Callable[[], str] = staticmethod(lambda: "")

    def __init__(self, option_strings, dest, **kwargs):
        kwargs.setdefault("nargs", "?")
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if values is None:
            print(self.listing())
            parser.exit(0)
        setattr(namespace, self.dest, values)


def list_or_choose(listing: Callable[[], str]) -> type:
    """A :class:`ListOrChoose` action printing ``listing()`` when the option is given alone."""
    return type("ListOrChooseAction", (ListOrChoose,), {"listing": staticmethod(listing)})


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


# --num-classes: background and at least one class; class values are 8-bit, 255 is "ignore"
MIN_CLASSES, MAX_CLASSES = 2, 255


def class_count(text: str) -> int:
    """argparse type of ``--num-classes``: an integer 2..255 (classes including background;
    labels are 8-bit PNGs whose 255 means ignore, so classes run 0..254)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of classes ({MIN_CLASSES}..{MAX_CLASSES}), "
                                         f"got {text[:40]!r}") from None
    if not MIN_CLASSES <= value <= MAX_CLASSES:
        raise argparse.ArgumentTypeError(f"must be {MIN_CLASSES}..{MAX_CLASSES} (classes including background: 21 "
                                         f"for VOC, 81 for COCO; class values are 8-bit and 255 means ignore), "
                                         f"got {value}")
    return value


def named_dir(text: str) -> Tuple[str, str]:
    """argparse type: ``NAME=DIR`` -> (NAME, DIR); a bare ``DIR`` is named after its folder."""
    if "=" in text:
        name, folder = text.split("=", 1)
        if not name or not folder:
            raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {text!r}")
        return name, folder
    return Path(text.rstrip("/")).name or text, text


def add_batch_arguments(parser: argparse.ArgumentParser, *, overwrite: bool = True,
                        list_help: str = "image names, one per line (default: every file found)",
                        workers_help: str = "worker processes (results do not depend on N; default 1)") -> None:
    """``--list``, ``--workers``, ``--overwrite``, ``--no-progress``: every batch command has them.

    ``overwrite=False`` for commands that write no per-image outputs (``eval``).
    """
    group = parser.add_argument_group("batch")
    group.add_argument("--list", metavar="FILE", help=list_help)
    group.add_argument("--workers", type=positive_int, default=1, metavar="N", help=workers_help)
    if overwrite:
        group.add_argument("--overwrite", action="store_true",
                           help="redo images whose output already exists (default: skip them, i.e. resume)")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")


def names_or_list(list_file: Optional[str], default: Sequence[str]) -> List[str]:
    """The ``--list`` file's names when given, else ``default``."""
    return read_name_list(list_file) if list_file else list(default)


def add_rule_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the refinement rule, shared by ``refine``, ``adapt`` and ``compare``.

    The built-in rules' flags come from :class:`~samcam.rules.SamcamRuleParams` (the
    ``official`` rule reads ``--ratio-thresh`` and ``--cover-thresh`` of the same names,
    the ``concept`` rule all of them, for its untagged masks) and
    :class:`~samcam.rules.ConceptRuleParams` (``--concept-*``, the ``concept`` rule's own).
    """
    group = parser.add_argument_group("refinement rule (docs/rule.md)")
    group.add_argument("--rule", type=installed(get_rule), default="samcam", action=list_or_choose(_rules_help),
                       metavar="NAME",
                       help="samcam (default): counts every mask against every class, rescues object masks by "
                            "the cores of class regions; official: the reference code's rule, bit-exact; concept: "
                            "for SAM 3's class-tagged masks (samcam masks --model sam3), a tag is painted where the "
                            "CAM agrees, untagged masks go to the samcam rule; or an installed plug-in rule (--rule "
                            "alone lists them)")
    group.add_argument("--rule-param", action="append", type=_rule_param, default=[], metavar="NAME=VALUE",
                       help="a parameter of the rule, repeatable (a plug-in rule's, or a built-in one's without a "
                            "flag, e.g. min_area=50); VALUE is read as a Python literal (0.3, True, 'x'), else as text")
    group.add_argument("--num-classes", type=class_count, default=21, metavar="N",
                       help="classes including background: 21 for VOC (default), 81 for COCO")
    samcam_only = {name: "samcam, concept: " for name in SamcamRuleParams.names() if name not in OfficialRuleParams.names()}
    add_settings_flags(group, SamcamRuleParams, only=_RULE_FLAG_ORDER, help_prefix=samcam_only)
    add_settings_flags(group, ConceptRuleParams, only=CONCEPT_FLAGS, help_prefix=dict.fromkeys(CONCEPT_FLAGS, "concept: "))
    group.add_argument("--mask-order", choices=("numeric", "listdir"), default="numeric",
                       help="order of amg.py PNG masks: 0.png, 1.png, ... (SAM's order, default) or the file "
                            "system's, as the reference code reads them (neither rule's result depends on it)")


# --help's order of the built-in rules' flags (the fields' own order is the record's).
_RULE_FLAG_ORDER = ("ratio_thresh", "cover_thresh", "cover_min_ratio", "core_rescue", "core_depth", "core_score",
                    "background_thresh", "unclaimed_background", "background_masks", "conflict", "ignore")


def installed(lookup: Callable[[str], object]) -> Callable[[str], str]:
    """argparse type of a name ``lookup`` must accept (``--rule``, ``--method``): its
    ValueError, which lists the installed names and says why a plug-in of that name could
    not be used, becomes the usage error."""
    def check(text: str) -> str:
        try:
            found = lookup(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return getattr(found, "name", text)  # the registered spelling (names are case-insensitive)
    return check


def _rules_help() -> str:
    lines = [f"  {name:<12} " + (get_rule(name).description or "")
             + ("" if rule_origin(name) == "built in" else f" (plug-in from {rule_origin(name)})")
             + "; parameters: " + (", ".join(f"{key}={value!r}" for key, value in get_rule(name).parameters().items())
                                   or "none")
             for name in available_rules()]
    lines += [f"  {name:<12} NOT USABLE: {reason}" for name, reason in sorted(rule_problems().items())]
    return "installed rules (--rule; plug-ins register under the entry point group samcam.rules):\n" + "\n".join(lines)


def _rule_param(text: str) -> Tuple[str, object]:
    """argparse type of ``--rule-param``: ``NAME=VALUE`` -> (NAME, Python literal or text)."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def rule_params(args: argparse.Namespace) -> Dict[str, object]:
    """Keyword arguments for :func:`samcam.refine` from the parsed rule flags.

    The flags of a built-in rule go to it (those its parameters have); a plug-in rule
    gets only ``--rule-param`` values (checked against its parameters by
    :func:`samcam.refine.rule_parameters`).
    """
    params: Dict[str, object] = {"rule": args.rule, "num_classes": args.num_classes}
    builtin = RULES.builtins().get(args.rule)
    if builtin is not None and builtin.params is not None:
        params.update({name: getattr(args, name) for name in builtin.params.names() if hasattr(args, name)})
    params.update(dict(args.rule_param))
    return params


# Likely fixes when every image of a batch failed the same way, by what the reason says.
_HINTS = (
    (r"ground truth missing",
     "--gt must be the ground-truth folder of these images ({name}.png, e.g. VOC2012/SegmentationClass)"),
    (r"no masks for",
     "--masks must hold masks of these images under their names (samcam masks --images DIR --out DIR)"),
    (r"(pseudo label|label file|prediction) (missing|does not exist)",
     "the label folder lacks these names: check --labels and --list"),
    (r"CAM file does not exist", "the CAM folder lacks these names: check --cams and --list"),
    (r"no image for", "--images lacks these names: check --images and --list"),
    (r"outside 0\.\.", "the labels hold class values above --num-classes - 1: pass --num-classes (81 for COCO)"),
    (r"masks are .* but the label is|but its masks .* are|but the image is|prediction is .* but ground truth is",
     "the files come from images of another size: were the masks, labels and images made from the same images?"),
    (r"not a .* CAM dict|CAM file", "is --method right? samcam-adapt --method alone lists the methods"),
)


def failure_hint(pattern: str) -> Optional[str]:
    """The likely fix for a failure reason shared by every image, or None."""
    for expression, hint in _HINTS:
        if re.search(expression, pattern):
            return hint
    return None


def report_batch(result: BatchResult, what: str, hint: Optional[str] = None) -> int:
    """Print a batch summary to stderr; returns the exit code (:attr:`BatchResult.exit_code`).

    Failures are grouped by reason (:func:`samcam.batch.describe_failures`); when every
    image failed for one reason, that reason is said once with the likely fix (``hint``,
    else one found from the reason). When the jobs returned per-image numbers
    (:attr:`BatchResult.stats`), a line sums them (:func:`change_summary`). 0 all done, 1 some images failed on bad input, 3
    some hit an internal error (a bug): the first such traceback is printed in full.
    """
    print(f"{what}: {result.summary()}", file=sys.stderr)
    changes = change_summary(result.stats)
    if changes:
        print(f"{what}: {changes}", file=sys.stderr)
    print_failure_hint(result.failed, what, hint, everything=not result.done and not result.skipped)
    print_internal_errors(result.internal, what)
    return result.exit_code


# per-image numbers a refine job returns (samcam.batch.ImageStats) that change_summary sums
CHANGE_STATS = ("pixels", "changed", "masks_used")


def change_summary(stats: Mapping[str, Mapping[str, float]]) -> Optional[str]:
    """What a run changed, from its per-image numbers (``{name: {"pixels": P, "changed": C,
    "masks_used": M}}``, :attr:`samcam.batch.BatchResult.stats`): ``K of N images changed,
    X% of their pixels; median M masks used per image``. Parts whose number no image gave
    are left out; None when there is nothing to say.
    """
    def values(key: str) -> List[float]:
        return [float(numbers[key]) for numbers in stats.values() if key in numbers]

    parts = []
    changed, pixels, used = values("changed"), values("pixels"), values("masks_used")
    if changed:
        parts.append(f"{sum(c > 0 for c in changed)} of {len(changed)} images changed")
    if changed and pixels and sum(pixels) > 0:
        parts[-1] += f", {100 * sum(changed) / sum(pixels):.2f}% of their pixels"
    if used:
        parts.append(f"median {statistics.median(used):g} masks used per image")
    return "; ".join(parts) or None


def print_failures(failed: Sequence[Tuple[str, str]], what: str, everything: bool = False) -> None:
    """Print per-image failures grouped by reason, and the likely fix when all share one."""
    if failed:
        print(f"{what}: {describe_failures(failed, everything)}", file=sys.stderr)
        print_failure_hint(failed, what, everything=everything)


def print_failure_hint(failed: Sequence[Tuple[str, str]], what: str, hint: Optional[str] = None,
                       everything: bool = False) -> None:
    """``{what}: likely fix: ...`` when every image failed for one reason."""
    groups = group_failures(failed)
    if not everything or len(groups) != 1 or len(failed) < 2:
        return
    fix = hint or failure_hint(groups[0][0])
    if fix:
        print(f"{what}: likely fix: {fix}", file=sys.stderr)


def print_internal_errors(internal: Sequence[Tuple[str, str]], what: str) -> None:
    """Print the first internal error's traceback in full and how many there were."""
    if not internal:
        return
    name, trace = internal[0]
    print(f"{what}: internal error (a bug in samcam or a library it uses; please report it with this "
          f"traceback) on {len(internal)} image(s); the first, {name}:\n{trace.rstrip()}", file=sys.stderr)


def show_log(prog: str) -> None:
    """Show samcam's log messages (downloads, what a run is about to do) on stderr.

    Library code logs to the ``samcam`` logger and never prints; this is where the
    command line makes those messages visible, prefixed with the subcommand's name
    (``prog``, e.g. ``samcam refine``).
    """
    logger = logging.getLogger("samcam")
    for handler in list(logger.handlers):
        if getattr(handler, "_samcam_cli", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{prog}: %(message)s"))
    handler._samcam_cli = True
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
