#include "wire.hpp"

#include <plexus/connector.hpp>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <map>

namespace plexus::pogo {

namespace {

int64_t days_from_civil(int y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

constexpr int64_t kTicksPerSecond = 10'000'000;

}  // namespace

std::optional<int64_t> parse_ticks(const std::string& s) {
    auto digits = [&](size_t pos, size_t n) -> std::optional<int> {
        if (pos + n > s.size()) return std::nullopt;
        int v = 0;
        for (size_t i = pos; i < pos + n; ++i) {
            if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2);
    if (!y || !mo || !d || s[4] != '-' || s[7] != '-' || *mo < 1 || *mo > 12 || *d < 1 || *d > 31)
        return std::nullopt;
    int64_t t = days_from_civil(*y, static_cast<unsigned>(*mo), static_cast<unsigned>(*d)) * 86'400 * kTicksPerSecond;
    if (s.size() == 10) return t;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
    auto h = digits(11, 2), mi = digits(14, 2), se = digits(17, 2);
    if (!h || !mi || !se || s[13] != ':' || s[16] != ':' || *h > 23 || *mi > 59 || *se > 60) return std::nullopt;
    t += ((*h * 60LL + *mi) * 60 + *se) * kTicksPerSecond;
    size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        int64_t scale = kTicksPerSecond;
        const size_t start = pos;
        while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
            if (scale > 1) {
                scale /= 10;
                t += (s[pos] - '0') * scale;
            }
            ++pos;
        }
        if (pos == start) return std::nullopt;
    }
    if (pos == s.size()) return t;  // no zone: UTC
    if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) return t;
    if (s[pos] != '+' && s[pos] != '-') return std::nullopt;
    auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || s[pos + 3] != ':' || pos + 6 != s.size()) return std::nullopt;
    const int64_t off = (*oh * 60LL + *om) * 60 * kTicksPerSecond;
    return s[pos] == '+' ? t - off : t + off;
}

std::string format_ticks(int64_t ticks) {
    int64_t secs = ticks / kTicksPerSecond, frac = ticks % kTicksPerSecond;
    if (frac < 0) {
        frac += kTicksPerSecond;
        --secs;
    }
    const time_t tt = static_cast<time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%07lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
    return buf;
}

std::string describe_error(int status, const std::string& body, const std::string& what) {
    std::string out = "PowerOffice Go answered HTTP " + std::to_string(status) + " to " + what;
    json j = json::parse(body, nullptr, false);
    auto text = [&](std::initializer_list<const char*> names) -> std::string {
        if (!j.is_object()) return {};
        for (const char* n : names)
            if (auto it = j.find(n); it != j.end() && it->is_string() && !it->get<std::string>().empty())
                return it->get<std::string>();
        return {};
    };
    const std::string title = text({"title", "Title"}), detail = text({"detail", "Detail"});
    const std::string oauth = text({"error"}), oauth_text = text({"error_description"});
    const std::string message = text({"message", "Message"});
    if (!title.empty()) out += ": " + title;
    if (!detail.empty()) out += (title.empty() ? ": " : " — ") + detail;
    if (j.is_object())
        for (const char* n : {"errors", "Errors"})
            if (auto it = j.find(n); it != j.end() && it->is_object())
                for (auto e = it->begin(); e != it->end(); ++e) {
                    out += "; " + e.key() + ":";
                    if (e->is_array())
                        for (const auto& m : *e) out += " " + (m.is_string() ? m.get<std::string>() : m.dump());
                    else
                        out += " " + e->dump();
                }
    if (!oauth.empty()) out += ": " + oauth + (oauth_text.empty() ? "" : " — " + oauth_text);
    if (title.empty() && detail.empty() && oauth.empty() && !message.empty()) out += ": " + message;
    switch (status) {
        case 401: out += " (the access token or subscription key was refused)"; break;
        case 403: out += " (the integration lacks a privilege for this: GET /ClientIntegrationInformation lists them)"; break;
        case 429: out += " (over the request budget of 10 per second per subscription key, after the host's retries)"; break;
        default: break;
    }
    return out;
}

plexus_status classify(int status) {
    if (status >= 200 && status < 300) return PLEXUS_OK;
    if (status == 401 || status == 403) return PLEXUS_ERR_AUTH;
    if (status == 429) return PLEXUS_ERR_RATE_LIMIT;
    if (status == 404) return PLEXUS_ERR_NOT_FOUND;
    if (status == 409) return PLEXUS_ERR_CONFLICT;
    if (status == 400 || status == 422) return PLEXUS_ERR_VALIDATION;
    if (status >= 500) return PLEXUS_ERR_TRANSIENT;
    return PLEXUS_ERR_PLUGIN;  // 405, 415 …: a request the connector should not have sent
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

std::string url_encode(const std::string& s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
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
