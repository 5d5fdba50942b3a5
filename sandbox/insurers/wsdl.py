"""The WSDL of the Portuguese insurers' portfolio service (document/literal, SOAP 1.1).

Dates travel as strings: the insurers send whatever their back office holds, including the
odd impossible date, and a typed ``xsd:date`` would make one bad record fail a whole page.
"""

from __future__ import annotations

NS = "http://sandbox.ponte.local/insurer/portfolio/v1"

_RECEIPT = "".join(
    f'<xsd:element name="{name}" type="xsd:{kind}"/>'
    for name, kind in (
        ("receiptNumber", "string"),
        ("dueDate", "string"),
        ("amountCents", "long"),
        ("status", "string"),
        ("statusChangedOn", "string"),
    )
)
_POLICY_FIELDS = (
    ("policyNumber", "string"),
    ("product", "string"),
    ("status", "string"),
    ("holderName", "string"),
    ("holderTaxId", "string"),
    ("holderTaxIdType", "string"),
    ("startDate", "string"),
    ("endDate", "string"),
    ("premiumCents", "long"),
    ("currency", "string"),
    ("updatedOn", "string"),
    ("asOf", "string"),
)
_POLICY = "".join(f'<xsd:element name="{n}" type="xsd:{k}" minOccurs="0"/>' for n, k in _POLICY_FIELDS)
OPERATIONS = ("GetPortfolio", "GetPolicy", "Ping")

_SCHEMA = f"""<xsd:schema targetNamespace="{NS}" elementFormDefault="qualified">
<xsd:complexType name="Receipt"><xsd:sequence>{_RECEIPT}</xsd:sequence></xsd:complexType>
<xsd:complexType name="Policy"><xsd:sequence>{_POLICY}
<xsd:element name="receipt" type="tns:Receipt" minOccurs="0" maxOccurs="unbounded"/>
</xsd:sequence></xsd:complexType>
<xsd:element name="GetPortfolio"><xsd:complexType><xsd:sequence>
<xsd:element name="periodFrom" type="xsd:string"/><xsd:element name="periodTo" type="xsd:string"/>
<xsd:element name="pageToken" type="xsd:string" minOccurs="0"/>
<xsd:element name="pageSize" type="xsd:int" minOccurs="0"/>
</xsd:sequence></xsd:complexType></xsd:element>
<xsd:element name="GetPortfolioResponse"><xsd:complexType><xsd:sequence>
<xsd:element name="policy" type="tns:Policy" minOccurs="0" maxOccurs="unbounded"/>
<xsd:element name="nextPageToken" type="xsd:string" minOccurs="0"/>
<xsd:element name="asOf" type="xsd:string"/>
</xsd:sequence></xsd:complexType></xsd:element>
<xsd:element name="GetPolicy"><xsd:complexType><xsd:sequence>
<xsd:element name="policyNumber" type="xsd:string"/>
</xsd:sequence></xsd:complexType></xsd:element>
<xsd:element name="GetPolicyResponse"><xsd:complexType><xsd:sequence>
<xsd:element name="policy" type="tns:Policy"/>
</xsd:sequence></xsd:complexType></xsd:element>
<xsd:element name="Ping"><xsd:complexType><xsd:sequence/></xsd:complexType></xsd:element>
<xsd:element name="PingResponse"><xsd:complexType><xsd:sequence>
<xsd:element name="status" type="xsd:string"/><xsd:element name="serverTime" type="xsd:string"/>
</xsd:sequence></xsd:complexType></xsd:element>
</xsd:schema>"""


def wsdl(location: str) -> str:
    """The WSDL document with the service bound at ``location``."""
    messages = "".join(
        f'<message name="{op}Input"><part name="parameters" element="tns:{op}"/></message>'
        f'<message name="{op}Output"><part name="parameters" element="tns:{op}Response"/></message>'
        for op in OPERATIONS
    )
    port_ops = "".join(
        f'<operation name="{op}"><input message="tns:{op}Input"/><output message="tns:{op}Output"/></operation>'
        for op in OPERATIONS
    )
    binding_ops = "".join(
        f'<operation name="{op}"><soap:operation soapAction="{NS}/{op}" style="document"/>'
        '<input><soap:body use="literal"/></input><output><soap:body use="literal"/></output></operation>'
        for op in OPERATIONS
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
 xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="{NS}" targetNamespace="{NS}" name="PortfolioService">
<types>{_SCHEMA}</types>
{messages}
<portType name="PortfolioPortType">{port_ops}</portType>
<binding name="PortfolioBinding" type="tns:PortfolioPortType">
<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>{binding_ops}</binding>
<service name="PortfolioService"><port name="PortfolioPort" binding="tns:PortfolioBinding">
<soap:address location="{location}"/></port></service>
</definitions>"""
