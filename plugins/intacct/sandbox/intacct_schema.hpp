// The official Intacct request schema (intacct/intacct_dtd v3.0 api.xsd, Apache-2.0, kept in
// plugins/intacct/tests/contract/) compiled with libxml2. The sandbox checks every request
// against it, as the real gateway does (XL03000003), and the contract tests check what the
// connector sent with it.
#pragma once

#include <memory>
#include <string>

namespace plexus::sandbox {

class IntacctSchema {
public:
    // The schema at `path`, compiled; nullptr with the reason in `error`.
    static std::shared_ptr<const IntacctSchema> load(const std::string& path, std::string& error);
    // The schema of plugins/intacct/tests/contract/api.xsd in the source tree this was built
    // from, compiled once per process; nullptr (with the reason in `error`) when that file is
    // not there (an installed binary without the source tree).
    static std::shared_ptr<const IntacctSchema> bundled(std::string* error = nullptr);
    // Where bundled() reads the schema from.
    static std::string bundled_path();

    // Empty when `xml` is a well-formed document valid against the schema; otherwise what is
    // wrong ("line 1: Element 'sotransitems': This element is not expected. Expected is one of
    // ( exchratedate, exchratetype, exchrate )."), the first few errors joined by "; ".
    std::string validate(const std::string& xml) const;

    ~IntacctSchema();
    IntacctSchema(const IntacctSchema&) = delete;
    IntacctSchema& operator=(const IntacctSchema&) = delete;

private:
    IntacctSchema() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace plexus::sandbox
