"""Reading large SOAP replies with lxml, guided by the WSDL's own types.

zeep maps every element of a reply into ``CompoundValue`` objects, and ``serialize_object``
turns them back into dicts: on portfolio pages (1,000 policies, 3,000 receipts) that mapping
was about 80% of the import worker's time spent reading SOAP (py-spy). This reader walks the
same reply with lxml instead. What it expects comes from the operation's output element in
the parsed WSDL: element names, which children repeat, and each leaf's XSD type, converted
by that type's own zeep ``pythonvalue``. It returns what ``serialize_object`` would (missing
leaves None, missing lists empty), so callers cannot tell the two apart; like zeep's strict
mode it refuses an element the WSDL does not declare, but it does not check their order. zeep still builds
and signs the request (WS-Security), parses the document with its hardened parser, and
handles faults and every other reply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import zeep.exceptions
import zeep.loader
from lxml import etree
from zeep.xsd.types.builtins import String

parse_xml: Any = zeep.loader.parse_xml
XMLSyntaxError: Any = zeep.exceptions.XMLSyntaxError
XMLParseError: Any = zeep.exceptions.XMLParseError


def _repeats(element: Any) -> bool:
    return element.max_occurs == "unbounded" or int(element.max_occurs) > 1


def _leaf(convert: Callable[[str], Any]) -> Callable[[str | None], Any]:
    def read(text: str | None) -> Any:
        if text is None:
            return None
        try:
            return convert(text)
        except (TypeError, ValueError):
            return None  # as zeep does: a bad value is None, the record decides what that means

    return read


def _converter(xsd_type: Any) -> Callable[[str | None], Any] | None:
    """How a leaf's text becomes its value; None where zeep keeps the text as it is (strings,
    most of a portfolio page), so reading it costs no call."""
    if type(xsd_type).pythonvalue is String.pythonvalue:
        return None
    return _leaf(xsd_type.pythonvalue)


class Shape:
    """One complex type of the WSDL: for each child element's tag, the name it is read under,
    and either its leaf converter or its nested shape (and whether it repeats)."""

    def __init__(self, xsd_type: Any) -> None:
        self.fields: dict[str, tuple[str, Callable[[str | None], Any] | None, Shape | None, bool]] = {}
        self.empty: dict[str, Any] = {}
        self.lists: list[str] = []
        for name, element in xsd_type.elements:
            tag = etree.QName(element.qname).text
            if hasattr(element.type, "elements"):
                many = _repeats(element)
                self.fields[tag] = (name, None, Shape(element.type), many)
                if many:
                    self.lists.append(name)
                    continue
            else:
                self.fields[tag] = (name, _converter(element.type), None, False)
            self.empty[name] = None

    def read(self, node: Any) -> dict[str, Any]:
        out = self.empty.copy()
        for name in self.lists:
            out[name] = []
        fields = self.fields
        for child in node:
            field = fields.get(child.tag)
            if field is None:
                if isinstance(child.tag, str):  # comments and processing instructions are no data
                    raise XMLParseError(f"Unexpected element {child.tag!r}")  # as zeep's strict mode
                continue
            name, convert, shape, many = field
            if shape is None:
                out[name] = child.text if convert is None else convert(child.text)
            elif many:
                out[name].append(shape.read(child))
            else:
                out[name] = shape.read(child)
        return out


class ReplyReader:
    """Reads the successful reply of one operation; anything else goes back to zeep."""

    def __init__(self, binding: Any, operation: str) -> None:
        self.binding = binding
        self.operation = binding.get(operation)
        body = self.operation.output.body
        self.tag = etree.QName(body.qname).text
        self.shape = Shape(body.type)
        soap_env = binding.nsmap["soap-env"]
        self.body_tag = f"{{{soap_env}}}Body"
        self.fault_tag = f"{{{soap_env}}}Fault"

    def handles(self, response: Any) -> bool:
        content_type = response.headers.get("Content-Type", "text/xml")
        return bool(response.status_code == 200 and response.content and "multipart" not in content_type)

    def read(self, client: Any, response: Any) -> dict[str, Any]:
        doc = parse_xml(response.content, client.transport, settings=client.settings)
        if client.wsse:
            client.wsse.verify(doc)
        body = doc.find(self.body_tag)
        node = None if body is None else body.find(self.tag)
        if body is not None and body.find(self.fault_tag) is not None:
            self.binding.process_error(doc, self.operation)  # raises zeep's Fault
        if node is None:
            raise XMLSyntaxError(f"the reply has no {self.tag} in its body")
        return self.shape.read(node)
