#include "intacct_schema.hpp"

#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include <mutex>
#include <vector>

#ifndef PLEXUS_INTACCT_XSD
#define PLEXUS_INTACCT_XSD ""
#endif

namespace plexus::sandbox {

namespace {

// Collects libxml2's structured errors (at most a few) for one parse or validation.
struct Errors {
    std::vector<std::string> lines;
    static void collect(void* ctx, xmlErrorPtr e) {
        auto* self = static_cast<Errors*>(ctx);
        if (!e || self->lines.size() >= 5) return;
        std::string msg = e->message ? e->message : "unknown error";
        while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
        self->lines.push_back("line " + std::to_string(e->line) + ": " + msg);
    }
    std::string joined() const {
        std::string out;
        for (const auto& l : lines) out += (out.empty() ? "" : "; ") + l;
        return out.empty() ? "invalid" : out;
    }
};

}  // namespace

struct IntacctSchema::Impl {
    xmlSchemaPtr schema = nullptr;
    ~Impl() {
        if (schema) xmlSchemaFree(schema);
    }
};

IntacctSchema::~IntacctSchema() = default;

std::shared_ptr<const IntacctSchema> IntacctSchema::load(const std::string& path, std::string& error) {
    static std::once_flag init;
    std::call_once(init, [] { xmlInitParser(); });
    xmlSchemaParserCtxtPtr pctx = xmlSchemaNewParserCtxt(path.c_str());
    if (!pctx) {
        error = "cannot read the schema " + path;
        return nullptr;
    }
    Errors errs;
    xmlSchemaSetParserStructuredErrors(pctx, &Errors::collect, &errs);
    xmlSchemaPtr schema = xmlSchemaParse(pctx);
    xmlSchemaFreeParserCtxt(pctx);
    if (!schema) {
        error = "cannot compile the schema " + path + ": " + errs.joined();
        return nullptr;
    }
    std::shared_ptr<IntacctSchema> out(new IntacctSchema());
    out->impl_ = std::make_unique<Impl>();
    out->impl_->schema = schema;
    return out;
}

std::string IntacctSchema::bundled_path() { return PLEXUS_INTACCT_XSD; }

std::shared_ptr<const IntacctSchema> IntacctSchema::bundled(std::string* error) {
    static std::once_flag once;
    static std::shared_ptr<const IntacctSchema> schema;
    static std::string why;
    std::call_once(once, [] {
        if (bundled_path().empty()) why = "built without PLEXUS_INTACCT_XSD";
        else schema = load(bundled_path(), why);
    });
    if (!schema && error) *error = why;
    return schema;
}

std::string IntacctSchema::validate(const std::string& xml) const {
    Errors errs;
    xmlParserCtxtPtr pctx = xmlNewParserCtxt();
    if (!pctx) return "out of memory";
    xmlDocPtr doc = xmlCtxtReadMemory(pctx, xml.data(), static_cast<int>(xml.size()), "request.xml",
                                      nullptr, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        xmlErrorPtr e = xmlCtxtGetLastError(pctx);
        std::string msg = std::string("not well-formed XML: ") + (e && e->message ? e->message : "unknown error");
        while (!msg.empty() && msg.back() == '\n') msg.pop_back();
        xmlFreeParserCtxt(pctx);
        return msg;
    }
    xmlFreeParserCtxt(pctx);
    xmlSchemaValidCtxtPtr vctx = xmlSchemaNewValidCtxt(impl_->schema);
    xmlSchemaSetValidStructuredErrors(vctx, &Errors::collect, &errs);
    int rc = xmlSchemaValidateDoc(vctx, doc);
    xmlSchemaFreeValidCtxt(vctx);
    xmlFreeDoc(doc);
    if (rc == 0) return {};
    return rc < 0 ? "the validator failed internally" : errs.joined();
}

}  // namespace plexus::sandbox
