#include "wire.hpp"

#include <plexus/connector.hpp>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <map>

namespace plexus::pogo {

std::string describe_error(int status, const std::string& body, const std::string& what) {
    std::string out = "PowerOffice Go answered HTTP " + std::to_string(status) + " to " + what;
    if (const std::string why = plexus::sdk::rest::error_detail(body); !why.empty()) out += ": " + why;
    switch (status) {
        case 401: out += " (the access token or subscription key was refused)"; break;
        case 403: out += " (the integration lacks a privilege for this: GET /ClientIntegrationInformation lists them)"; break;
        case 429: out += " (over the request budget of 10 per second per subscription key, after the host's retries)"; break;
        default: break;
    }
    return out;
}

std::string ReadCursor::encode() const {
    json j = json::object();
    if (after) j["after"] = format_ticks(*after);
    j["keys"] = keys;
    return j.dump();
}

ReadCursor ReadCursor::decode(const std::string& text) {
    ReadCursor c;
    json j = json::parse(text, nullptr, false);
    auto refuse = [&] {
        return plexus::sdk::Error(PLEXUS_ERR_CONFIG, "the stored cursor \"" + text.substr(0, 120) +
                                                         "\" is not a PowerOffice Go read position "
                                                         "({\"after\": time, \"keys\": [...]}); rewind the process");
    };
    if (!j.is_object()) throw refuse();
    if (auto it = j.find("after"); it != j.end() && !it->is_null()) {
        if (!it->is_string() || !(c.after = parse_ticks(it->get<std::string>()))) throw refuse();
    }
    if (auto it = j.find("keys"); it != j.end()) {
        if (!it->is_array()) throw refuse();
        for (const auto& k : *it) {
            if (!k.is_string()) throw refuse();
            c.keys.push_back(k.get<std::string>());
        }
    }
    return c;
}

const std::set<std::string>& dto_properties(const std::string& dto) {
    static const std::map<std::string, std::set<std::string>> m = {
        {"CustomerPostDto", {"Allowance", "BillableRate", "ContactGroupIds", "CurrencyCode", "CustomerSince", "DateOfBirth", "DeliveryTerm", "DeliveryTermId", "DepartmentCode", "DepartmentId", "DoNotAddLatePaymentFees", "DoNotAddLatePaymentInterest", "DoNotAutomatePaymentNotifications", "EmailAddress", "ExternalImportReference", "ExternalNumber", "FirstName", "InvoiceBrandingThemeCode", "InvoiceBrandingThemeId", "InvoiceDeliveryType", "InvoiceEmailAddress", "InvoiceEmailAddressCC", "IsArchived", "IsPerson", "IsVatFree", "LastName", "LegalName", "MailAddress", "Name", "NationalIdNumber", "NoticeOfDebtCollectionDeliveryType", "Number", "OrganizationNumber", "PaymentReminderEmailAddress", "PaymentTerm", "PaymentTermId", "PhoneNumber", "ReminderDeliveryType", "SalesPersonEmployeeId", "SalesPersonEmployeeNumber", "SendPaymentReminders", "SubLedgerNumberSeriesId", "TransferToDebtCollectionAgency", "UseInvoiceFee", "WebsiteUrl"}},
        {"ContactAddressPostDto", {"AddressLine1", "AddressLine2", "City", "CountryCode", "ExternalCode", "ZipCode"}},
        {"ProductPostDto", {"Code", "Description", "Gtin", "IsArchived", "IsStockItem", "Name", "OptionalSalesAccount", "OptionalSalesAccountAgricultureDepartment", "OptionalSalesAccountId", "ProductGroupCode", "ProductGroupId", "ProductType", "StandardSalesAccount", "StandardSalesAccountAgricultureDepartment", "StandardSalesAccountId", "StockOnHand", "UnitCost", "UnitOfMeasureCode", "UnitPrice"}},
        {"SalesOrderCompletePostDto", {"BrandingThemeCode", "BrandingThemeId", "ContactDeliveryAddressId", "ContractNo", "CurrencyCode", "CurrencyExchangeRate", "CustomMatchingReference", "CustomerId", "CustomerNo", "CustomerReference", "CustomerReferenceContactPersonId", "DeliveryDate", "DeliveryTerm", "DeliveryTermId", "DepartmentCode", "DepartmentId", "Dim1Code", "Dim1Id", "Dim2Code", "Dim2Id", "Dim3Code", "Dim3Id", "ExternalImportReference", "ImportedOrderNo", "LocationCode", "LocationId", "PaymentTerm", "PaymentTermId", "ProjectCode", "ProjectId", "PurchaseOrderReference", "RelatedInvoiceNo", "SalesOrderDate", "SalesOrderLines", "SalesOrderStatus", "SalesPersonEmployeeId", "SalesPersonEmployeeNumber"}},
        {"SalesOrderLinePostDto", {"Accrual", "Allowance", "DepartmentCode", "DepartmentId", "Description", "Dim1Code", "Dim1Id", "Dim2Code", "Dim2Id", "Dim3Code", "Dim3Id", "ExternalImportReference", "LineType", "LocationCode", "LocationId", "ProductCode", "ProductId", "ProductUnitCost", "ProductUnitPrice", "ProjectCode", "ProjectId", "Quantity", "SellersReferenceEmployeeId", "SellersReferenceEmployeeNo", "SortOrder", "UnitOfMeasureCode", "UseStandardSalesAccount", "VatReturnSpecification"}},
        {"ManualVoucherPostDto", {"CurrencyCode", "Description", "ExternalImportReference", "ImportedVoucherNo", "SaftBatchId", "SaftSourceId", "VoucherDate", "VoucherLines"}},
        {"ManualVoucherLinePostDto", {"AccountId", "CurrencyAmount", "CurrencyCode", "CurrencyExchangeRate", "CustomMatchingReference", "DepartmentId", "Description", "Dim1Id", "Dim2Id", "Dim3Id", "ExternalLineReference", "LocationId", "PostingDate", "ProductId", "ProjectId", "Quantity", "Quantity2", "VatId", "VatReturnSpecification"}},
        {"SendInvoiceRequestPostDto", {"DeliveryType", "EmailAddress", "OverrideDueDate", "VoucherDate"}},
        {"ProductPatchDto", {"Code", "Description", "Gtin", "IsArchived", "IsStockItem", "Name", "OptionalSalesAccountId", "ProductGroupId", "ProductType", "StandardSalesAccountId", "StockOnHand", "UnitCost", "UnitOfMeasureCode", "UnitPrice"}},
    };
    static const std::set<std::string> none;
    auto it = m.find(dto);
    return it == m.end() ? none : it->second;
}

std::string unknown_members(const json& object, const std::string& dto) {
    const auto& names = dto_properties(dto);
    std::string out;
    if (!object.is_object()) return out;
    for (auto it = object.begin(); it != object.end(); ++it)
        if (!names.count(it.key())) out += (out.empty() ? "" : ", ") + it.key();
    return out;
}

std::string base64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const uint32_t n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
        out += {t[n >> 18], t[(n >> 12) & 63], t[(n >> 6) & 63], t[n & 63]};
    }
    if (i + 1 == in.size()) {
        const uint32_t n = uint32_t(uint8_t(in[i])) << 16;
        out += {t[n >> 18], t[(n >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        const uint32_t n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
        out += {t[n >> 18], t[(n >> 12) & 63], t[(n >> 6) & 63], '='};
    }
    return out;
}

std::optional<int64_t> as_integer(const json& v) {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
        return std::nullopt;
    }
    if (v.is_string()) {
        const std::string& s = v.get_ref<const std::string&>();
        if (s.empty() || s.size() > 18) return std::nullopt;
        for (char c : s)
            if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
        return std::stoll(s);
    }
    return std::nullopt;
}

}  // namespace plexus::pogo
