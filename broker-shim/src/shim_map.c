/*  =========================================================================
    shim_map - which .NET message type, URN, exchange and CAP name each of
    our event types has, and back

    Every change is made on a copy, derived names are rebuilt and checked
    for ambiguity, and only then does the copy replace the map: a refused
    change leaves the map exactly as it was.
    =========================================================================
*/
#include "shim_classes.h"

#include <strings.h>

//  One of our event types with its names. The derived names are rebuilt
//  from the others by s_entry_derive.
typedef struct {
    Ev__V1__Envelope__PayloadCase payload_case; //  our type
    char *name_space;        //  the type's own .NET namespace, or NULL for the map's; owned
    char *type_name;         //  .NET type name, "OrderCreatedEvent"; owned
    char *exchange_override; //  exchange set by configuration, or NULL; owned
    char *cap_name;          //  CAP message name; owned
    char *message_type;      //  derived "Namespace:TypeName"; owned
    char *urn;               //  derived URN; owned
    char *exchange;          //  derived or overridden exchange; owned
} s_entry_t;

//  Our event types and their default .NET type names.
typedef struct {
    Ev__V1__Envelope__PayloadCase payload_case; //  our type
    const char *type_name;                      //  default .NET type name
} s_default_t;

static const s_default_t s_defaults[] = {
    {EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED, "OrderCreatedEvent"},
    {EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED, "OrderCancelledEvent"},
    {EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, "StockReservedEvent"},
    {EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED, "StockRejectedEvent"},
    {EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED, "StockReleasedEvent"},
    {EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED, "PaymentStartedEvent"},
    {EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED, "PaymentVoidedEvent"},
};

#define S_TYPE_COUNT (sizeof s_defaults / sizeof s_defaults[0])

//  Longest configuration text shim_map_configure reads.
#define S_SPEC_MAX 4096

struct shim_map {
    char *name_space;                //  default .NET namespace; owned
    char currency[4];                //  currency of amounts without one
    s_entry_t entries[S_TYPE_COUNT]; //  in s_defaults order
};

//  ---------------------------------------------------------------------
//  True if `c` is an ASCII letter, digit or '_'.

static bool
s_is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

//  ---------------------------------------------------------------------
//  True if `text` is 1-SHIM_NAME_MAX bytes of words separated by single
//  `separator`s: ".NET identifiers" (a dotted namespace, or a type name
//  with '+' between outer and nested types). A leading digit is refused.

static bool
s_identifiers_valid(const char *text, char separator)
{
    size_t length = strnlen(text, SHIM_NAME_MAX + 1);
    if (length == 0 || length > SHIM_NAME_MAX) {
        return false;
    }
    bool at_start = true;
    for (size_t index = 0; index < length; index++) {
        char c = text[index];
        if (c == separator && !at_start) {
            at_start = true;
        } else if (s_is_word(c) && !(at_start && c >= '0' && c <= '9')) {
            at_start = false;
        } else {
            return false;
        }
    }
    return !at_start;
}

//  ---------------------------------------------------------------------
//  True if `text` is 1-SHIM_NAME_MAX bytes of word characters or of
//  `extra`.

static bool
s_name_valid(const char *text, const char *extra)
{
    size_t length = strnlen(text, SHIM_NAME_MAX + 1);
    if (length == 0 || length > SHIM_NAME_MAX) {
        return false;
    }
    for (size_t index = 0; index < length; index++) {
        if (!s_is_word(text[index]) && !strchr(extra, text[index])) {
            return false;
        }
    }
    return true;
}

//  ---------------------------------------------------------------------
//  Index of our type named `type` ("OrderCreated"), or -1.

static int
s_index_of_type(const char *type)
{
    Ev__V1__Envelope__PayloadCase payload_case = bus_envelope_payload_case(type);
    for (size_t index = 0; index < S_TYPE_COUNT; index++) {
        if (s_defaults[index].payload_case == payload_case &&
            payload_case != EV__V1__ENVELOPE__PAYLOAD__NOT_SET) {
            return (int) index;
        }
    }
    return -1;
}

//  ---------------------------------------------------------------------
//  The entry of a payload case, or NULL.

static const s_entry_t *
s_entry_of_case(const shim_map_t *self, Ev__V1__Envelope__PayloadCase payload_case)
{
    for (size_t index = 0; index < S_TYPE_COUNT; index++) {
        if (self->entries[index].payload_case == payload_case) {
            return &self->entries[index];
        }
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  Rebuild an entry's derived names.

static void
s_entry_derive(const shim_map_t *self, s_entry_t *entry)
{
    const char *name_space = entry->name_space ? entry->name_space : self->name_space;
    zstr_free(&entry->message_type);
    zstr_free(&entry->urn);
    zstr_free(&entry->exchange);
    entry->message_type = zsys_sprintf("%s:%s", name_space, entry->type_name);
    entry->urn = zsys_sprintf(SHIM_URN_PREFIX "%s", entry->message_type);
    if (entry->exchange_override) {
        entry->exchange = strdup(entry->exchange_override);
    } else {
        //  MassTransit writes a nested type's separator as '-' in entity
        //  names and as '+' in URNs.
        entry->exchange = strdup(entry->message_type);
        for (char *at = entry->exchange; *at; at++) {
            if (*at == '+') {
                *at = '-';
            }
        }
    }
}

//  ---------------------------------------------------------------------
//  Free an entry's strings.

static void
s_entry_clear(s_entry_t *entry)
{
    zstr_free(&entry->exchange);
    zstr_free(&entry->urn);
    zstr_free(&entry->message_type);
    zstr_free(&entry->cap_name);
    zstr_free(&entry->exchange_override);
    zstr_free(&entry->type_name);
    zstr_free(&entry->name_space);
}

//  ---------------------------------------------------------------------
//  A duplicate of NULL or a string.

static char *
s_strdup_or_null(const char *text)
{
    return text ? strdup(text) : NULL;
}

//  ---------------------------------------------------------------------
//  A deep copy of a map.

static shim_map_t *
s_map_clone(const shim_map_t *self)
{
    shim_map_t *clone = (shim_map_t *) zmalloc(sizeof(shim_map_t));
    clone->name_space = strdup(self->name_space);
    memcpy(clone->currency, self->currency, sizeof clone->currency);
    for (size_t index = 0; index < S_TYPE_COUNT; index++) {
        const s_entry_t *from = &self->entries[index];
        s_entry_t *to = &clone->entries[index];
        to->payload_case = from->payload_case;
        to->name_space = s_strdup_or_null(from->name_space);
        to->type_name = strdup(from->type_name);
        to->exchange_override = s_strdup_or_null(from->exchange_override);
        to->cap_name = strdup(from->cap_name);
        s_entry_derive(clone, to);
    }
    return clone;
}

//  ---------------------------------------------------------------------
//  Rebuild every derived name of `candidate` and check that no two types
//  share a URN (ignoring case), an exchange or a CAP name; if so, move
//  the candidate into `self` and return 0, else destroy it and return -1.

static int
s_map_commit(shim_map_t *self, shim_map_t **candidate_p)
{
    shim_map_t *candidate = *candidate_p;
    bool ambiguous = false;
    for (size_t index = 0; index < S_TYPE_COUNT; index++) {
        s_entry_derive(candidate, &candidate->entries[index]);
    }
    for (size_t first = 0; first < S_TYPE_COUNT; first++) {
        const s_entry_t *one = &candidate->entries[first];
        for (size_t second = first + 1; second < S_TYPE_COUNT; second++) {
            const s_entry_t *other = &candidate->entries[second];
            ambiguous |= strcasecmp(one->urn, other->urn) == 0 ||
                         streq(one->exchange, other->exchange) ||
                         streq(one->cap_name, other->cap_name);
        }
    }
    if (ambiguous) {
        shim_map_destroy(candidate_p);
        return -1;
    }
    //  Swap contents, so the old ones are freed with the candidate.
    shim_map_t old = *self;
    *self = *candidate;
    *candidate = old;
    shim_map_destroy(candidate_p);
    return 0;
}

//  ---------------------------------------------------------------------
//  Create a map with the defaults.

shim_map_t *
shim_map_new(void)
{
    shim_map_t *self = (shim_map_t *) zmalloc(sizeof(shim_map_t));
    self->name_space = strdup(SHIM_MAP_NAMESPACE_DEFAULT);
    memcpy(self->currency, SHIM_MAP_CURRENCY_DEFAULT, sizeof self->currency);
    for (size_t index = 0; index < S_TYPE_COUNT; index++) {
        s_entry_t *entry = &self->entries[index];
        entry->payload_case = s_defaults[index].payload_case;
        entry->type_name = strdup(s_defaults[index].type_name);
        entry->cap_name = strdup(bus_envelope_type_name(entry->payload_case));
        s_entry_derive(self, entry);
    }
    return self;
}

//  ---------------------------------------------------------------------
//  Destroy a map.

void
shim_map_destroy(shim_map_t **self_p)
{
    assert(self_p);
    shim_map_t *self = *self_p;
    if (!self) {
        return;
    }
    for (size_t index = S_TYPE_COUNT; index > 0; index--) {
        s_entry_clear(&self->entries[index - 1]);
    }
    zstr_free(&self->name_space);
    freen(self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Set the default namespace.

int
shim_map_set_namespace(shim_map_t *self, const char *name_space)
{
    assert(self);
    assert(name_space);
    if (!s_identifiers_valid(name_space, '.')) {
        return -1;
    }
    shim_map_t *candidate = s_map_clone(self);
    zstr_free(&candidate->name_space);
    candidate->name_space = strdup(name_space);
    return s_map_commit(self, &candidate);
}

//  ---------------------------------------------------------------------
//  Split "[Ns:]Name" into an entry of `candidate`, checking both parts.
//  Returns 0 or -1.

static int
s_entry_set_message_type(s_entry_t *entry, const char *message_type)
{
    const char *colon = strrchr(message_type, ':');
    const char *type_name = colon ? colon + 1 : message_type;
    char *name_space = colon ? strndup(message_type, (size_t) (colon - message_type)) : NULL;
    bool valid = s_identifiers_valid(type_name, '+') &&
                 (!name_space || s_identifiers_valid(name_space, '.'));
    if (!valid) {
        zstr_free(&name_space);
        return -1;
    }
    zstr_free(&entry->name_space);
    zstr_free(&entry->type_name);
    zstr_free(&entry->exchange_override);
    entry->name_space = name_space;
    entry->type_name = strdup(type_name);
    return 0;
}

//  ---------------------------------------------------------------------
//  Set a type's .NET message type.

int
shim_map_set_message_type(shim_map_t *self, const char *type, const char *message_type)
{
    assert(self);
    assert(type);
    assert(message_type);
    int index = s_index_of_type(type);
    if (index < 0) {
        return -1;
    }
    shim_map_t *candidate = s_map_clone(self);
    if (s_entry_set_message_type(&candidate->entries[index], message_type) != 0) {
        shim_map_destroy(&candidate);
        return -1;
    }
    return s_map_commit(self, &candidate);
}

//  ---------------------------------------------------------------------
//  Override a type's exchange.

int
shim_map_set_exchange(shim_map_t *self, const char *type, const char *exchange)
{
    assert(self);
    assert(type);
    int index = s_index_of_type(type);
    if (index < 0 || (exchange && !s_name_valid(exchange, ".:-"))) {
        return -1;
    }
    shim_map_t *candidate = s_map_clone(self);
    s_entry_t *entry = &candidate->entries[index];
    zstr_free(&entry->exchange_override);
    entry->exchange_override = s_strdup_or_null(exchange);
    return s_map_commit(self, &candidate);
}

//  ---------------------------------------------------------------------
//  Set a type's CAP message name.

int
shim_map_set_cap_name(shim_map_t *self, const char *type, const char *name)
{
    assert(self);
    assert(type);
    assert(name);
    int index = s_index_of_type(type);
    if (index < 0 || !s_name_valid(name, ".-")) {
        return -1;
    }
    shim_map_t *candidate = s_map_clone(self);
    s_entry_t *entry = &candidate->entries[index];
    zstr_free(&entry->cap_name);
    entry->cap_name = strdup(name);
    return s_map_commit(self, &candidate);
}

//  ---------------------------------------------------------------------
//  Set the default currency.

int
shim_map_set_currency(shim_map_t *self, const char *code)
{
    assert(self);
    assert(code);
    if (svc_currency_digits(code) < 0) {
        return -1;
    }
    memcpy(self->currency, code, sizeof self->currency);
    return 0;
}

//  ---------------------------------------------------------------------
//  Apply one "Type=[Ns:]Name[@exchange]" entry (`entry`, modifiable) to
//  `candidate`. Returns 0 or -1.

static int
s_configure_entry(shim_map_t *candidate, char *entry)
{
    char *equals = strchr(entry, '=');
    if (!equals) {
        return -1;
    }
    *equals = '\0';
    char *message_type = equals + 1;
    char *at = strchr(message_type, '@');
    if (at) {
        *at = '\0';
    }
    int index = s_index_of_type(entry);
    if (index < 0 || s_entry_set_message_type(&candidate->entries[index], message_type) != 0) {
        return -1;
    }
    if (at) {
        if (!s_name_valid(at + 1, ".:-")) {
            return -1;
        }
        candidate->entries[index].exchange_override = strdup(at + 1);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Apply a configuration text, all or nothing.

int
shim_map_configure(shim_map_t *self, const char *spec)
{
    assert(self);
    assert(spec);
    if (strnlen(spec, S_SPEC_MAX + 1) > S_SPEC_MAX) {
        return -1;
    }
    shim_map_t *candidate = s_map_clone(self);
    char *copy = strdup(spec);
    int rc = 0;
    char *saved = NULL;
    for (char *entry = strtok_r(copy, ",", &saved); entry && rc == 0;
         entry = strtok_r(NULL, ",", &saved)) {
        while (*entry == ' ' || *entry == '\t') {
            entry++;
        }
        size_t length = strlen(entry);
        while (length > 0 && (entry[length - 1] == ' ' || entry[length - 1] == '\t')) {
            entry[--length] = '\0';
        }
        if (length > 0) {
            rc = s_configure_entry(candidate, entry);
        }
    }
    zstr_free(&copy);
    if (rc != 0) {
        shim_map_destroy(&candidate);
        return -1;
    }
    return s_map_commit(self, &candidate);
}

//  ---------------------------------------------------------------------
//  Getters.

const char *
shim_map_message_type(const shim_map_t *self, Ev__V1__Envelope__PayloadCase payload_case)
{
    assert(self);
    const s_entry_t *entry = s_entry_of_case(self, payload_case);
    return entry ? entry->message_type : NULL;
}

const char *
shim_map_type_name(const shim_map_t *self, Ev__V1__Envelope__PayloadCase payload_case)
{
    assert(self);
    const s_entry_t *entry = s_entry_of_case(self, payload_case);
    return entry ? entry->type_name : NULL;
}

const char *
shim_map_urn(const shim_map_t *self, Ev__V1__Envelope__PayloadCase payload_case)
{
    assert(self);
    const s_entry_t *entry = s_entry_of_case(self, payload_case);
    return entry ? entry->urn : NULL;
}

const char *
shim_map_exchange(const shim_map_t *self, Ev__V1__Envelope__PayloadCase payload_case)
{
    assert(self);
    const s_entry_t *entry = s_entry_of_case(self, payload_case);
    return entry ? entry->exchange : NULL;
}

const char *
shim_map_cap_name(const shim_map_t *self, Ev__V1__Envelope__PayloadCase payload_case)
{
    assert(self);
    const s_entry_t *entry = s_entry_of_case(self, payload_case);
    return entry ? entry->cap_name : NULL;
}

const char *
shim_map_currency(const shim_map_t *self)
{
    assert(self);
    return self->currency;
}

//  ---------------------------------------------------------------------
//  Reverse lookups.

Ev__V1__Envelope__PayloadCase
shim_map_find_urn(const shim_map_t *self, const char *urn)
{
    assert(self);
    assert(urn);
    for (size_t index = 0; index < S_TYPE_COUNT; index++) {
        if (strcasecmp(self->entries[index].urn, urn) == 0) {
            return self->entries[index].payload_case;
        }
    }
    return EV__V1__ENVELOPE__PAYLOAD__NOT_SET;
}

Ev__V1__Envelope__PayloadCase
shim_map_find_exchange(const shim_map_t *self, const char *exchange)
{
    assert(self);
    assert(exchange);
    for (size_t index = 0; index < S_TYPE_COUNT; index++) {
        if (streq(self->entries[index].exchange, exchange)) {
            return self->entries[index].payload_case;
        }
    }
    return EV__V1__ENVELOPE__PAYLOAD__NOT_SET;
}

Ev__V1__Envelope__PayloadCase
shim_map_find_cap_name(const shim_map_t *self, const char *name)
{
    assert(self);
    assert(name);
    for (size_t index = 0; index < S_TYPE_COUNT; index++) {
        if (streq(self->entries[index].cap_name, name)) {
            return self->entries[index].payload_case;
        }
    }
    return EV__V1__ENVELOPE__PAYLOAD__NOT_SET;
}
