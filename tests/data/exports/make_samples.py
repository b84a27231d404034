"""Writes the sample exports in this folder: one per preset, made-up values, headers as the tools write them.

    python tests/data/exports/make_samples.py

Every header below is the provider's documented column (or field) list; the values are
invented and small, so that tests/test_presets.py can work out each KPI by hand. The
timeline is October 2026 (UTC unless an offset is written).
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
UTC = timezone.utc


def ms(text: str) -> int:
    """Epoch milliseconds of an ISO time (MLflow's timestamps)."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def s(text: str) -> int:
    return ms(text) // 1000


def write_csv(name: str, header: list[str], rows: list[dict]) -> None:
    with open(HERE / name, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            unknown = set(r) - set(header)
            assert not unknown, (name, unknown)
            w.writerow(["" if r.get(h) is None else r.get(h) for h in header])


def write_json(name: str, doc, *, lines: bool = False) -> None:
    with open(HERE / name, "w", encoding="utf-8") as f:
        if lines:
            for d in doc:
                f.write(json.dumps(d) + "\n")
        else:
            json.dump(doc, f, indent=2)
            f.write("\n")


# ---------------------------------------------------------------------------
# FOCUS 1.2 (every column of the v1.2 column list, in the specification's order)

FOCUS_1_2 = """AvailabilityZone BilledCost BillingAccountId BillingAccountName BillingAccountType BillingCurrency
BillingPeriodEnd BillingPeriodStart CapacityReservationId CapacityReservationStatus ChargeCategory ChargeClass
ChargeDescription ChargeFrequency ChargePeriodEnd ChargePeriodStart CommitmentDiscountCategory CommitmentDiscountId
CommitmentDiscountName CommitmentDiscountQuantity CommitmentDiscountStatus CommitmentDiscountType
CommitmentDiscountUnit ConsumedQuantity ConsumedUnit ContractedCost ContractedUnitPrice EffectiveCost InvoiceId
InvoiceIssuerName ListCost ListUnitPrice PricingCategory PricingCurrency PricingCurrencyContractedUnitPrice
PricingCurrencyEffectiveCost PricingCurrencyListUnitPrice PricingQuantity PricingUnit ProviderName PublisherName
RegionId RegionName ResourceId ResourceName ResourceType ServiceCategory ServiceName ServiceSubcategory SkuId
SkuMeter SkuPriceDetails SkuPriceId SubAccountId SubAccountName SubAccountType Tags""".split()

ENDPOINT = "arn:aws:sagemaker:us-east-1:444455556666:endpoint/fraud-prod"
TRAIN = "arn:aws:sagemaker:us-east-1:444455556666:training-job/"


def focus_row(day: int, cost: float, *, category="Usage", charge_class=None, description, service, service_category,
              resource=None, tags=None, billed=None, sub="Machine Learning") -> dict:
    start = datetime(2026, 10, day, tzinfo=UTC)
    return {
        "AvailabilityZone": None, "BilledCost": cost if billed is None else billed, "BillingAccountId": "111122223333",
        "BillingAccountName": "acme-payer", "BillingAccountType": "Billing Account", "BillingCurrency": "USD",
        "BillingPeriodEnd": "2026-11-01T00:00:00Z", "BillingPeriodStart": "2026-10-01T00:00:00Z",
        "ChargeCategory": category, "ChargeClass": charge_class, "ChargeDescription": description,
        "ChargeFrequency": "Usage-Based" if category == "Usage" else "One-Time",
        "ChargePeriodEnd": (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ChargePeriodStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ContractedCost": cost if billed is None else billed, "EffectiveCost": cost, "InvoiceIssuerName": "AWS Inc.",
        "ListCost": cost if billed is None else billed, "PricingCategory": "Standard", "PricingCurrency": "USD",
        "PricingQuantity": 1, "PricingUnit": "Hours", "ProviderName": "AWS", "PublisherName": "AWS",
        "RegionId": "us-east-1", "RegionName": "US East (N. Virginia)", "ResourceId": resource,
        "ResourceName": resource.rsplit("/", 1)[-1] if resource else None, "ServiceCategory": service_category,
        "ServiceName": service, "ServiceSubcategory": sub, "SubAccountId": "444455556666",
        "SubAccountName": "ml-prod", "SubAccountType": "Account", "Tags": json.dumps(tags) if tags else None,
    }


def focus() -> None:
    fraud = {"ml-service": "fraud-api", "team": "risk", "ml-model": "fraud-xgb"}
    rows = [
        # 1-2: the fraud endpoint on 1 October, two lines (instance hours, data processed) -> netted to 50.00
        focus_row(1, 48.00, description="$0.24 per Hosting ml.m5.xlarge hour in US East (N. Virginia)",
                  service="Amazon SageMaker", service_category="AI and Machine Learning", resource=ENDPOINT, tags=fraud),
        focus_row(1, 2.00, description="$0.016 per GB Data Processed IN by Hosting instances",
                  service="Amazon SageMaker", service_category="AI and Machine Learning", resource=ENDPOINT, tags=fraud),
        # 3: the fraud endpoint on 2 October
        focus_row(2, 48.00, description="$0.24 per Hosting ml.m5.xlarge hour in US East (N. Virginia)",
                  service="Amazon SageMaker", service_category="AI and Machine Learning", resource=ENDPOINT, tags=fraud),
        # 4-5: two training jobs, the run is the job name (no ml-run-id tag)
        focus_row(3, 30.60, description="$3.825 per Training ml.p3.2xlarge hour in US East (N. Virginia)",
                  service="Amazon SageMaker", service_category="AI and Machine Learning",
                  resource=TRAIN + "fraud-train-20261003", tags=fraud),
        focus_row(5, 19.40, description="$3.825 per Training ml.p3.2xlarge hour in US East (N. Virginia)",
                  service="Amazon SageMaker", service_category="AI and Machine Learning",
                  resource=TRAIN + "fraud-train-20261005", tags=fraud),
        # 6: training data in S3, tagged -> storage
        focus_row(2, 5.00, description="$0.023 per GB-Mo for storage used", service="Amazon Simple Storage Service",
                  service_category="Storage", resource="arn:aws:s3:::fraud-training-data", tags=fraud,
                  sub="Object Storage"),
        # 7: an untagged endpoint -> inference, service unattributed
        focus_row(2, 12.00, description="$0.115 per Hosting ml.m5.large hour in US East (N. Virginia)",
                  service="Amazon SageMaker", service_category="AI and Machine Learning",
                  resource="arn:aws:sagemaker:us-east-1:444455556666:endpoint/churn-staging"),
        # 8: untagged EC2 -> other, unattributed
        focus_row(3, 7.50, description="$0.0832 per On Demand Linux m5.large Instance Hour",
                  service="Amazon Elastic Compute Cloud", service_category="Compute",
                  resource="i-0abc123def4567890", sub="Virtual Machines"),
        # 9: a Savings Plan purchase: billed 100, effective 0 (amortised into usage)
        focus_row(1, 0.00, billed=100.00, category="Purchase", description="SageMaker Savings Plan, 1 year, no upfront",
                  service="Amazon SageMaker", service_category="AI and Machine Learning"),
        # 10: a credit, kept: nets with the 0.00 purchase of 1 October (untagged, other) -> -20.00
        # 11: a tax, dropped (account-level)
        # 12: a correction (a refund of hosting hours), kept: nets the endpoint's 2 October 48.00 -> 45.00
        focus_row(1, -20.00, category="Credit", description="AWS Activate credit", service="Amazon SageMaker",
                  service_category="AI and Machine Learning"),
        focus_row(1, 8.00, category="Tax", description="Tax for October 2026", service="Amazon SageMaker",
                  service_category="AI and Machine Learning"),
        focus_row(2, -3.00, charge_class="Correction", description="Refund of overcharged Hosting hours",
                  service="Amazon SageMaker", service_category="AI and Machine Learning", resource=ENDPOINT, tags=fraud),
    ]
    write_csv("focus.csv", FOCUS_1_2, rows)


# ---------------------------------------------------------------------------
# AWS CUR 2.0 (the standard COST_AND_USAGE_REPORT columns, Parquet with map columns)

CUR2 = """bill_bill_type bill_billing_entity bill_billing_period_end_date bill_billing_period_start_date bill_invoice_id
bill_invoicing_entity bill_payer_account_id bill_payer_account_name cost_category discount discount_bundled_discount
discount_total_discount identity_line_item_id identity_time_interval line_item_availability_zone
line_item_blended_cost line_item_blended_rate line_item_currency_code line_item_legal_entity
line_item_line_item_description line_item_line_item_type line_item_net_unblended_cost line_item_net_unblended_rate
line_item_normalization_factor line_item_normalized_usage_amount line_item_operation line_item_product_code
line_item_resource_id line_item_tax_type line_item_unblended_cost line_item_unblended_rate line_item_usage_account_id
line_item_usage_account_name line_item_usage_amount line_item_usage_end_date line_item_usage_start_date
line_item_usage_type pricing_currency pricing_lease_contract_length pricing_offering_class
pricing_public_on_demand_cost pricing_public_on_demand_rate pricing_purchase_option pricing_rate_code pricing_rate_id
pricing_term pricing_unit product product_comment product_fee_code product_fee_description product_from_location
product_from_location_type product_from_region_code product_instance_family product_instance_type product_instancesku
product_location product_location_type product_operation product_pricing_unit product_product_family
product_region_code product_servicecode product_sku product_to_location product_to_location_type
product_to_region_code product_usagetype reservation_amortized_upfront_cost_for_usage
reservation_amortized_upfront_fee_for_billing_period reservation_availability_zone reservation_effective_cost
reservation_end_time reservation_modification_status reservation_net_amortized_upfront_cost_for_usage
reservation_net_amortized_upfront_fee_for_billing_period reservation_net_effective_cost
reservation_net_recurring_fee_for_usage reservation_net_unused_amortized_upfront_fee_for_billing_period
reservation_net_unused_recurring_fee reservation_net_upfront_value reservation_normalized_units_per_reservation
reservation_number_of_reservations reservation_recurring_fee_for_usage reservation_reservation_a_r_n
reservation_start_time reservation_subscription_id reservation_total_reserved_normalized_units
reservation_total_reserved_units reservation_units_per_reservation
reservation_unused_amortized_upfront_fee_for_billing_period reservation_unused_normalized_unit_quantity
reservation_unused_quantity reservation_unused_recurring_fee reservation_upfront_value resource_tags
savings_plan_amortized_upfront_commitment_for_billing_period savings_plan_end_time savings_plan_instance_type_family
savings_plan_net_amortized_upfront_commitment_for_billing_period
savings_plan_net_recurring_commitment_for_billing_period savings_plan_net_savings_plan_effective_cost
savings_plan_offering_type savings_plan_payment_option savings_plan_purchase_term
savings_plan_recurring_commitment_for_billing_period savings_plan_region savings_plan_savings_plan_a_r_n
savings_plan_savings_plan_effective_cost savings_plan_savings_plan_rate savings_plan_start_time
savings_plan_total_commitment_to_date savings_plan_used_commitment""".split()

CUR2_DOUBLE = {c for c in CUR2 if c.endswith(("_cost", "_rate", "_amount", "_discount", "_factor", "_fee",
                                              "_value", "_quantity", "_units", "_reservation", "_period",
                                              "_commitment", "_to_date", "_usage", "_for_usage"))
               } - {"reservation_reservation_a_r_n"}
CUR2_TIMESTAMP = {"bill_billing_period_end_date", "bill_billing_period_start_date", "line_item_usage_end_date",
                  "line_item_usage_start_date"}
CUR2_MAP = {"cost_category", "discount", "product", "resource_tags"}


def cur_row(day: int, line_type: str, cost: float, *, product: str, usage_type: str, resource=None, tags=None,
            sp_effective=None, description="") -> dict:
    start = datetime(2026, 10, day)
    return {
        "bill_bill_type": "Anniversary", "bill_billing_entity": "AWS",
        "bill_billing_period_start_date": "2026-10-01 00:00:00", "bill_billing_period_end_date": "2026-11-01 00:00:00",
        "bill_invoicing_entity": "Amazon Web Services, Inc.", "bill_payer_account_id": "111122223333",
        "bill_payer_account_name": "acme-payer", "cost_category": "{}", "discount": "{}",
        "identity_line_item_id": f"li-{day}-{line_type}-{abs(cost)}", "identity_time_interval":
            f"{start:%Y-%m-%dT%H:%M:%SZ}/{start + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}",
        "line_item_currency_code": "USD", "line_item_legal_entity": "Amazon Web Services, Inc.",
        "line_item_line_item_description": description, "line_item_line_item_type": line_type,
        "line_item_operation": "RunInstance", "line_item_product_code": product, "line_item_resource_id": resource,
        "line_item_unblended_cost": cost, "line_item_blended_cost": cost, "line_item_usage_account_id": "444455556666",
        "line_item_usage_account_name": "ml-prod", "line_item_usage_amount": 24.0,
        "line_item_usage_start_date": f"{start:%Y-%m-%d %H:%M:%S}",
        "line_item_usage_end_date": f"{start + timedelta(days=1):%Y-%m-%d %H:%M:%S}",
        "line_item_usage_type": usage_type, "pricing_currency": "USD", "pricing_term": "OnDemand", "pricing_unit": "Hrs",
        "product": json.dumps({"product_name": product, "region": "us-east-1"}), "product_region_code": "us-east-1",
        "product_servicecode": product, "resource_tags": json.dumps(tags or {}),
        "savings_plan_savings_plan_effective_cost": sp_effective,
    }


def cur2() -> None:
    fraud = {"user_ml-service": "fraud-api", "user_team": "risk", "user_ml-model": "fraud-xgb"}
    rows = [
        # 1-2: the fraud endpoint on 1 October: 24.00 on demand + SP-covered hours at their effective 16.00 -> 40.00
        cur_row(1, "Usage", 24.00, product="AmazonSageMaker", usage_type="USE1-Host:ml.m5.xlarge", resource=ENDPOINT,
                tags=fraud, description="$0.24 per Hosting ml.m5.xlarge hour"),
        cur_row(1, "SavingsPlanCoveredUsage", 24.00, product="AmazonSageMaker", usage_type="USE1-Host:ml.m5.xlarge",
                resource=ENDPOINT, tags=fraud, sp_effective=16.00, description="Savings Plan covered Hosting hours"),
        # 3-4: dropped: the SP negation of row 2 and the SP recurring fee (amortised into row 2)
        cur_row(1, "SavingsPlanNegation", -24.00, product="AmazonSageMaker", usage_type="USE1-Host:ml.m5.xlarge",
                resource=ENDPOINT, tags=fraud, description="Savings Plan negation"),
        cur_row(1, "SavingsPlanRecurringFee", 30.00, product="ComputeSavingsPlans", usage_type="ComputeSP:1yrNoUpfront",
                description="Savings Plan recurring fee"),
        # 5: a training job, run = the job's name
        cur_row(2, "Usage", 61.20, product="AmazonSageMaker", usage_type="USE1-Train:ml.p3.2xlarge",
                resource=TRAIN + "fraud-train-7", tags=fraud, description="$3.825 per Training ml.p3.2xlarge hour"),
        # 6: S3 -> storage
        cur_row(2, "Usage", 3.00, product="AmazonS3", usage_type="USE1-TimedStorage-ByteHrs",
                resource="fraud-training-data", tags=fraud, description="$0.023 per GB-Mo"),
        # 7-8: dropped: a credit and a tax
        cur_row(3, "Credit", -50.00, product="AmazonSageMaker", usage_type="", description="AWS Activate credit"),
        cur_row(3, "Tax", 6.50, product="AmazonSageMaker", usage_type="", description="Tax"),
        # 9: an untagged endpoint -> inference, unattributed
        cur_row(3, "Usage", 9.00, product="AmazonSageMaker", usage_type="USE1-Host:ml.m5.large",
                resource="arn:aws:sagemaker:us-east-1:444455556666:endpoint/churn-staging",
                description="$0.115 per Hosting ml.m5.large hour"),
        # 10: untagged EC2 -> other, unattributed
        cur_row(3, "Usage", 4.00, product="AmazonEC2", usage_type="USE1-BoxUsage:m5.large",
                resource="i-0abc123def4567890", description="$0.096 per On Demand Linux m5.large Instance Hour"),
    ]

    def typed(c: str) -> str:
        q = '"' + c + '"'
        if c in CUR2_MAP:
            return f"{q}::JSON::MAP(VARCHAR, VARCHAR) AS {q}"
        if c in CUR2_TIMESTAMP:
            return f"{q}::TIMESTAMP AS {q}"
        if c in CUR2_DOUBLE:
            return f"{q}::DOUBLE AS {q}"
        return q

    con = duckdb.connect()
    con.execute(f"CREATE TABLE cur ({', '.join(chr(34) + c + chr(34) + ' VARCHAR' for c in CUR2)})")
    for r in rows:
        con.execute(f"INSERT INTO cur VALUES ({', '.join('?' for _ in CUR2)})",
                    [None if r.get(c) is None else str(r[c]) for c in CUR2])
    out = HERE / "aws-cur2.parquet"
    con.execute(f"COPY (SELECT {', '.join(typed(c) for c in CUR2)} FROM cur) TO '{out}' (FORMAT parquet)")


# ---------------------------------------------------------------------------
# GCP Cloud Billing export (standard usage cost table) as BigQuery's newline-delimited JSON


def gcp_row(day: int, hour: int, cost: float, *, service: str, sku: str, labels=None, credits=(), cost_type="regular"):
    start = datetime(2026, 10, day, hour)
    return {
        "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
        "service": {"id": {"Vertex AI": "C7E2-9256-1C43", "Cloud Storage": "95FF-2EF5-5EA1",
                           "Compute Engine": "6F81-5844-456A"}.get(service, "0000-0000-0000"), "description": service},
        "sku": {"id": "A1B2-C3D4-E5F6", "description": sku},
        "usage_start_time": f"{start:%Y-%m-%d %H:%M:%S} UTC",
        "usage_end_time": f"{start + timedelta(hours=1):%Y-%m-%d %H:%M:%S} UTC",
        "project": {"id": "ml-prod", "number": "123456789012", "name": "ml-prod", "labels": [],
                    "ancestry_numbers": "/98765/123456789012/", "ancestors": []},
        "labels": [{"key": k, "value": v} for k, v in (labels or {}).items()],
        "system_labels": [], "location": {"location": "us-central1", "country": "US", "region": "us-central1",
                                          "zone": None},
        "tags": [], "transaction_type": "GOOGLE", "seller_name": "Google",
        "export_time": f"{start + timedelta(hours=6):%Y-%m-%d %H:%M:%S}.000000 UTC",
        "cost": cost, "currency": "EUR", "currency_conversion_rate": 0.92,
        "usage": {"amount": 3600.0, "unit": "seconds", "amount_in_pricing_units": 1.0, "pricing_unit": "hour"},
        "credits": [{"name": n, "amount": a, "full_name": None, "id": i, "type": t} for n, a, i, t in credits],
        "invoice": {"month": "202610", "publisher_type": "GOOGLE"}, "cost_type": cost_type,
        "adjustment_info": {"id": None, "description": None, "mode": None, "type": None},
        "cost_at_list": cost,
    }


def gcp() -> None:
    ranker = {"ml-service": "ranker-api", "team": "search", "ml-model": "ranker-bert"}
    rows = [
        # 1-2: online prediction on 1 October: (30.00 - 4.50 sustained use) + 30.00 -> 55.50
        gcp_row(1, 0, 30.00, service="Vertex AI", sku="Vertex AI: Online/Batch Prediction n1-standard-4 in Iowa",
                labels=ranker, credits=[("Sustained usage discount", -4.50, "SUD-1", "SUSTAINED_USAGE_DISCOUNT")]),
        gcp_row(1, 1, 30.00, service="Vertex AI", sku="Vertex AI: Online/Batch Prediction n1-standard-4 in Iowa",
                labels=ranker),
        # 3: a training run: 40.00 - 10.00 committed use discount -> 30.00
        gcp_row(2, 0, 40.00, service="Vertex AI", sku="Custom Training: Nvidia Tesla T4 GPU running in Iowa",
                labels={**ranker, "ml-run-id": "ranker-run-42"},
                credits=[("Committed use discount", -10.00, "CUD-1", "COMMITTED_USAGE_DISCOUNT")]),
        # 4: storage
        gcp_row(2, 0, 2.00, service="Cloud Storage", sku="Standard Storage US Multi-region", labels=ranker),
        # 5: unlabelled VM fully covered by a free-tier credit -> 0.00, other, unattributed
        gcp_row(3, 0, 12.00, service="Compute Engine", sku="N2 Instance Core running in Iowa",
                credits=[("Free tier", -12.00, "FT-1", "FREE_TIER")]),
        # 6: unlabelled prediction -> inference, unattributed
        gcp_row(3, 0, 6.00, service="Vertex AI", sku="Vertex AI: Online/Batch Prediction n1-standard-2 in Iowa"),
        # 7: dropped: tax
        gcp_row(4, 0, 3.10, service="Vertex AI", sku="Tax", cost_type="tax"),
    ]
    write_json("gcp-billing.json", rows, lines=True)


# ---------------------------------------------------------------------------
# PagerDuty incidents report CSV (Advanced Reporting download)

PAGERDUTY = """id incident_number description service_id service_name escalation_policy_id escalation_policy_name
created_on resolved_on seconds_to_first_ack seconds_to_resolve auto_resolved escalation_count auto_escalation_count
acknowledge_count assignment_count acknowledged_by_user_ids acknowledged_by_user_names assigned_to_user_ids
assigned_to_user_names resolved_by_user_id resolved_by_user_name urgency""".split()


def pagerduty() -> None:
    base = {"escalation_policy_id": "PEP1ML", "escalation_policy_name": "ML on-call", "auto_resolved": 0,
            "escalation_count": 0, "auto_escalation_count": 0, "assignment_count": 1,
            "assigned_to_user_ids": "PU1ALEX", "assigned_to_user_names": "Alex Doe"}
    rows = [
        {**base, "id": "Q1FRAUDLAT", "incident_number": 101, "description": "fraud-api p99 latency above 300 ms",
         "service_id": "PSVCFR1", "service_name": "fraud-api", "created_on": "2026-10-02T10:00:00+00:00",
         "resolved_on": "2026-10-02T12:00:00+00:00", "seconds_to_first_ack": 300, "seconds_to_resolve": 7200,
         "acknowledge_count": 1, "acknowledged_by_user_ids": "PU1ALEX", "acknowledged_by_user_names": "Alex Doe",
         "resolved_by_user_id": "PU1ALEX", "resolved_by_user_name": "Alex Doe", "urgency": "high"},
        {**base, "id": "Q2RANKDRIFT", "incident_number": 102, "description": "ranker-api feature drift alert",
         "service_id": "PSVCRK1", "service_name": "ranker-api", "created_on": "2026-10-05T08:00:00-04:00",
         "resolved_on": "2026-10-05T16:00:00-04:00", "seconds_to_first_ack": None, "seconds_to_resolve": 28800,
         "acknowledge_count": 0, "resolved_by_user_id": "PU1ALEX", "resolved_by_user_name": "Alex Doe",
         "urgency": "low"},
        {**base, "id": "Q3FRAUD5XX", "incident_number": 103, "description": "fraud-api 5xx rate above 1%",
         "service_id": "PSVCFR1", "service_name": "fraud-api", "created_on": "2026-10-20T00:00:00+00:00",
         "resolved_on": None, "seconds_to_first_ack": 900, "seconds_to_resolve": None, "acknowledge_count": 1,
         "acknowledged_by_user_ids": "PU1ALEX", "acknowledged_by_user_names": "Alex Doe", "urgency": "high"},
    ]
    write_csv("pagerduty.csv", PAGERDUTY, rows)


# ---------------------------------------------------------------------------
# Opsgenie Incident API, List incidents


def opsgenie() -> None:
    def inc(n, priority, status, created, start, end, services, team, message):
        i = f"6b3f1c2e-0000-4000-8000-00000000000{n}"
        return {
            "id": i, "description": message, "impactedServices": services, "tinyId": str(n), "message": message,
            "status": status, "tags": ["ml"], "createdAt": created, "updatedAt": end or created,
            "priority": priority, "ownerTeam": team,
            "responders": [{"type": "team", "id": "63374eee-0b03-42d4-bb8c-50d1fa64827c"}],
            "extraProperties": {}, "links": {"web": f"https://acme.app.opsgenie.com/incident/detail/{i}",
                                             "api": f"https://api.opsgenie.com/v1/incidents/{i}"},
            "impactStartDate": start, **({"impactEndDate": end} if end else {}), "actions": [],
        }

    doc = {
        "data": [
            inc(1, "P2", "resolved", "2026-10-03T09:30:00.000Z", "2026-10-03T06:00:00.000Z", "2026-10-03T12:00:00.000Z",
                ["ranker-api"], "search", "Ranker CTR dropped: feature drift"),
            inc(2, "P1", "closed", "2026-10-10T00:00:00.000Z", "2026-10-10T00:00:00.000Z", "2026-10-10T02:00:00.000Z",
                ["fraud-api"], "risk", "Fraud scores all zero after deploy"),
            inc(3, "P4", "open", "2026-10-25T00:00:00.000Z", "2026-10-24T22:00:00.000Z", None,
                [], "search", "Ranker batch scoring late"),
        ],
        "paging": {"first": "https://api.opsgenie.com/v1/incidents?limit=20&offset=0",
                   "last": "https://api.opsgenie.com/v1/incidents?limit=20&offset=0"},
        "took": 0.016, "requestId": "6cbb2b8a-7b6f-4d3e-9d6c-8b2f2a0e4f11",
    }
    write_json("opsgenie.json", doc)


# ---------------------------------------------------------------------------
# Jira Service Management, Export Excel CSV (all fields)

JIRA = ["Summary", "Issue key", "Issue id", "Issue Type", "Status", "Project key", "Project name", "Project type",
        "Project lead", "Project description", "Project url", "Priority", "Resolution", "Assignee", "Reporter",
        "Creator", "Created", "Updated", "Last Viewed", "Resolved", "Component/s", "Component/s", "Due Date", "Votes",
        "Labels", "Labels", "Description", "Environment", "Watchers", "Custom field (Affected services)",
        "Custom field (Request Type)", "Custom field (Severity)", "Custom field (Time to first response)",
        "Custom field (Time to resolution)", "Comment"]


def jira() -> None:
    common = ["INC", "ML Operations", "service_desk", "Alex Doe", "", "", ]
    rows = [
        # Summary, key, id, type, status, project..., priority, resolution, assignee, reporter, creator,
        # created, updated, last viewed, resolved, component x2, due, votes, labels x2, description, environment,
        # watchers, affected services, request type, severity, first response, time to resolution, comment
        ["Fraud model returning stale scores", "INC-1", "10001", "Incident", "Resolved", *common, "High", "Done",
         "Alex Doe", "Sam Roe", "Sam Roe", "02/Oct/26 9:15 AM", "02/Oct/26 1:20 PM", "", "02/Oct/26 1:15 PM",
         "fraud", "", "", "0", "ml", "drift", "Scores stuck since 09:00", "", "2", "fraud-api",
         "Report an incident", "Sev-2", "", "", ""],
        ["Ranker endpoint down", "INC-2", "10002", "Incident", "Resolved", *common, "Highest", "Done", "Alex Doe",
         "Sam Roe", "Sam Roe", "15/Oct/26 11:00 PM", "16/Oct/26 5:05 AM", "", "16/Oct/26 5:00 AM", "ranker", "",
         "", "0", "ml", "", "503s from the ranker", "", "3", "", "Report an incident", "", "", "", ""],
        ["New GPU quota", "INC-3", "10003", "Service Request", "Resolved", *common, "Medium", "Done", "Alex Doe",
         "Sam Roe", "Sam Roe", "20/Oct/26 10:00 AM", "21/Oct/26 10:00 AM", "", "21/Oct/26 10:00 AM", "", "", "",
         "0", "", "", "Please raise the quota", "", "1", "", "Get IT help", "", "", "", ""],
        ["Churn model batch job failing", "INC-4", "10004", "Incident", "In Progress", *common, "Low", "",
         "Alex Doe", "Sam Roe", "Sam Roe", "28/Oct/26 4:30 PM", "28/Oct/26 5:00 PM", "", "", "churn", "", "", "0",
         "ml", "", "Nightly scoring fails", "", "1", "churn-batch", "Report an incident", "", "", "", ""],
    ]
    with open(HERE / "jira-sm.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(JIRA)
        for r in rows:
            assert len(r) == len(JIRA), (r[1], len(r))
            w.writerow(r)


# ---------------------------------------------------------------------------
# GitHub deployments (List deployments), each with its statuses (List deployment statuses)

GH = "https://api.github.com/repos/acme"
OCTO = {"login": "deploy-bot", "id": 5001, "node_id": "MDQ6VXNlcjUwMDE=", "type": "Bot", "site_admin": False}


def gh_deployment(i: int, repo: str, env: str, created: str, statuses: list[tuple[str, str]]) -> dict:
    url = f"{GH}/{repo}/deployments/{i}"
    return {
        "url": url, "id": i, "node_id": f"DE_kwDO{i}", "sha": f"{i:040x}", "ref": "main", "task": "deploy",
        "payload": {}, "original_environment": env, "environment": env, "description": f"Deploy {repo}",
        "creator": OCTO, "created_at": created, "updated_at": statuses[-1][1] if statuses else created,
        "statuses_url": url + "/statuses", "repository_url": f"{GH}/{repo}", "transient_environment": False,
        "production_environment": env == "production", "performed_via_github_app": None,
        "statuses": [{
            "url": f"{url}/statuses/{i * 10 + n}", "id": i * 10 + n, "node_id": f"DES_kwDO{i * 10 + n}",
            "state": state, "creator": OCTO, "description": f"Deployment {state}", "environment": env,
            "target_url": f"https://github.com/acme/{repo}/actions/runs/{i}", "created_at": at, "updated_at": at,
            "deployment_url": url, "repository_url": f"{GH}/{repo}", "environment_url": "",
            "log_url": f"https://github.com/acme/{repo}/actions/runs/{i}", "performed_via_github_app": None,
        } for n, (state, at) in enumerate(statuses)],
    }


def github_deployments() -> None:
    doc = [
        gh_deployment(1001, "fraud-api", "production", "2026-10-01T10:00:00Z", [
            ("in_progress", "2026-10-01T10:01:00Z"), ("success", "2026-10-01T10:05:00Z"),
            ("inactive", "2026-10-08T10:04:00Z")]),  # superseded by 1002: still a success
        gh_deployment(1002, "fraud-api", "production", "2026-10-08T10:00:00Z", [
            ("queued", "2026-10-08T10:00:30Z"), ("success", "2026-10-08T10:04:00Z")]),
        gh_deployment(1003, "fraud-api", "production", "2026-10-15T10:00:00Z", [
            ("in_progress", "2026-10-15T10:01:00Z"), ("failure", "2026-10-15T10:03:00Z")]),
        gh_deployment(1004, "fraud-api", "staging", "2026-10-16T10:00:00Z", [("success", "2026-10-16T10:02:00Z")]),
        gh_deployment(1005, "fraud-api", "production", "2026-10-20T10:00:00Z", [("pending", "2026-10-20T10:00:10Z")]),
        gh_deployment(1006, "ranker-api", "production", "2026-10-21T10:00:00Z", [("error", "2026-10-21T10:02:00Z")]),
    ]
    write_json("github-deployments.json", doc)


# ---------------------------------------------------------------------------
# GitHub Actions, List workflow runs for a repository


def gh_run(i: int, name: str, conclusion: str | None, created: str, updated: str, commit_time: str) -> dict:
    repo = {"id": 700, "node_id": "R_kgDOfraud", "name": "fraud-api", "full_name": "acme/fraud-api", "private": True,
            "owner": {"login": "acme", "id": 90}, "html_url": "https://github.com/acme/fraud-api",
            "url": f"{GH}/fraud-api"}
    return {
        "id": i, "name": name, "node_id": f"WFR_kwLO{i}", "head_branch": "main", "head_sha": f"{i:040x}",
        "path": ".github/workflows/" + ("deploy.yml" if "Deploy" in name else "ci.yml"),
        "display_title": f"Merge pull request #{i - 8900}", "run_number": i - 8900, "event": "push",
        "status": "completed", "conclusion": conclusion, "workflow_id": 161335 if "Deploy" in name else 161336,
        "check_suite_id": i * 3, "check_suite_node_id": f"CS_kwDO{i}", "url": f"{GH}/fraud-api/actions/runs/{i}",
        "html_url": f"https://github.com/acme/fraud-api/actions/runs/{i}", "pull_requests": [],
        "created_at": created, "updated_at": updated, "actor": OCTO, "run_attempt": 1, "referenced_workflows": [],
        "run_started_at": created, "triggering_actor": OCTO, "jobs_url": f"{GH}/fraud-api/actions/runs/{i}/jobs",
        "logs_url": f"{GH}/fraud-api/actions/runs/{i}/logs", "check_suite_url": f"{GH}/fraud-api/check-suites/{i * 3}",
        "artifacts_url": f"{GH}/fraud-api/actions/runs/{i}/artifacts",
        "cancel_url": f"{GH}/fraud-api/actions/runs/{i}/cancel", "rerun_url": f"{GH}/fraud-api/actions/runs/{i}/rerun",
        "previous_attempt_url": None, "workflow_url": f"{GH}/fraud-api/actions/workflows/161335",
        "head_commit": {"id": f"{i:040x}", "tree_id": f"{i + 1:040x}", "message": "Retrain threshold",
                        "timestamp": commit_time, "author": {"name": "Alex Doe", "email": "alex@example.com"},
                        "committer": {"name": "GitHub", "email": "noreply@github.com"}},
        "repository": repo, "head_repository": repo,
    }


def github_actions() -> None:
    runs = [
        gh_run(9001, "Deploy model", "success", "2026-10-02T09:00:00Z", "2026-10-02T09:20:00Z", "2026-10-01T15:00:00Z"),
        gh_run(9002, "Deploy model", "failure", "2026-10-09T09:00:00Z", "2026-10-09T09:10:00Z", "2026-10-09T08:00:00Z"),
        gh_run(9003, "CI", "success", "2026-10-12T09:00:00Z", "2026-10-12T09:07:00Z", "2026-10-12T08:55:00Z"),
        gh_run(9004, "Deploy model", "cancelled", "2026-10-15T09:00:00Z", "2026-10-15T09:01:00Z",
               "2026-10-15T08:00:00Z"),
        gh_run(9005, "Deploy model", "success", "2026-10-20T11:40:00Z", "2026-10-20T12:00:00Z", "2026-10-19T12:00:00Z"),
    ]
    write_json("github-actions.json", {"total_count": len(runs), "workflow_runs": runs})


# ---------------------------------------------------------------------------
# GitLab Deployments API, List project deployments


def gl_deployment(i: int, status: str, env: str, created: str, finished: str | None, authored: str) -> dict:
    user = {"id": 1, "username": "deployer", "name": "Deploy Bot", "state": "active",
            "avatar_url": "https://gitlab.example.com/uploads/u1.png", "web_url": "https://gitlab.example.com/deployer"}
    return {
        "id": i, "iid": i - 500, "ref": "main", "sha": f"{i:040x}", "created_at": created,
        "updated_at": finished or created, "user": user,
        "environment": {"id": 9 if env == "production" else 8, "name": env, "slug": env,
                        "external_url": f"https://{env}.ranker.example.com", "created_at": "2026-01-01T00:00:00Z",
                        "updated_at": created},
        "deployable": {
            "id": i * 10, "status": {"success": "success", "failed": "failed"}.get(status, "canceled"),
            "stage": "deploy", "name": f"deploy:{env}", "ref": "main", "tag": False, "coverage": None,
            "allow_failure": False, "created_at": created, "started_at": created, "finished_at": finished,
            "duration": 300.0, "queued_duration": 2.0, "user": user,
            "commit": {"id": f"{i:040x}", "short_id": f"{i:08x}", "created_at": authored, "parent_ids": [],
                       "title": "Update ranker weights", "message": "Update ranker weights", "author_name": "Alex Doe",
                       "author_email": "alex@example.com", "authored_date": authored, "committer_name": "Alex Doe",
                       "committer_email": "alex@example.com", "committed_date": authored},
            "pipeline": {"id": i * 100, "iid": i, "project_id": 42, "sha": f"{i:040x}", "ref": "main",
                         "status": status, "source": "push", "created_at": created, "updated_at": finished or created,
                         "web_url": f"https://gitlab.example.com/ml/ranker/-/pipelines/{i * 100}"},
            "web_url": f"https://gitlab.example.com/ml/ranker/-/jobs/{i * 10}", "artifacts": [], "runner": None,
            "artifacts_expire_at": None, "tag_list": [],
        },
        "status": status,
    }


def gitlab() -> None:
    doc = [
        gl_deployment(501, "success", "production", "2026-10-03T10:00:00.000Z", "2026-10-03T10:25:00.000Z",
                      "2026-10-02T10:25:00.000+00:00"),
        gl_deployment(502, "failed", "production", "2026-10-10T10:00:00.000Z", "2026-10-10T10:04:00.000Z",
                      "2026-10-10T08:00:00.000+00:00"),
        gl_deployment(503, "canceled", "production", "2026-10-12T10:00:00.000Z", None, "2026-10-12T09:00:00.000+00:00"),
        gl_deployment(504, "success", "staging", "2026-10-15T10:00:00.000Z", "2026-10-15T10:05:00.000Z",
                      "2026-10-15T09:00:00.000+00:00"),
        gl_deployment(505, "success", "production", "2026-10-20T11:55:00.000Z", "2026-10-20T12:00:00.000Z",
                      "2026-10-18T12:00:00.000+00:00"),
    ]
    write_json("gitlab-deployments.json", doc)


# ---------------------------------------------------------------------------
# MLflow: {"model_version": <GET model-versions/get>.model_version, "run": <GET runs/get>.run} per line


def mlflow() -> None:
    def version(name, v, created, updated, stage, aliases, run_start, tags=(("team", "risk"),), status="READY"):
        run_id = f"{name[:5]}{v}0000000000000000000000000"[:32]
        return {
            "model_version": {
                "name": name, "version": str(v), "creation_timestamp": ms(created), "last_updated_timestamp": ms(updated),
                "user_id": "alex@example.com", "current_stage": stage, "description": "",
                "source": f"models:/m-{run_id}", "run_id": run_id, "status": status,
                "tags": [{"key": k, "value": val} for k, val in tags],
                "run_link": "", "aliases": list(aliases),
            },
            "run": {
                "info": {"run_id": run_id, "run_uuid": run_id, "run_name": f"{name}-train-{v}",
                         "experiment_id": "12", "user_id": "alex@example.com", "status": "FINISHED",
                         "start_time": ms(run_start), "end_time": ms(run_start) + 3_600_000,
                         "artifact_uri": f"s3://mlflow/12/{run_id}/artifacts", "lifecycle_stage": "active"},
                "data": {"metrics": [{"key": "auc", "value": 0.91, "timestamp": ms(run_start), "step": 0}],
                         "params": [], "tags": []},
                "inputs": {},
            },
        }

    lines = [
        # stage Production: run started 1 Oct 09:00, registered 2 Oct 08:00, in production 3 Oct 09:00
        version("fraud-xgb", 7, "2026-10-02T08:00:00Z", "2026-10-03T09:00:00Z", "Production", [],
                "2026-10-01T09:00:00Z"),
        # alias champion (stage None): run 19 Oct 09:00, registered 19 Oct 21:00, last updated 20 Oct 09:00
        version("fraud-xgb", 8, "2026-10-19T21:00:00Z", "2026-10-20T09:00:00Z", "None", ["champion"],
                "2026-10-19T09:00:00Z"),
        # archived, and a challenger in Staging: not deployments
        version("fraud-xgb", 6, "2026-09-01T08:00:00Z", "2026-10-03T09:00:00Z", "Archived", [],
                "2026-08-31T09:00:00Z"),
        version("ranker-bert", 3, "2026-10-11T08:00:00Z", "2026-10-12T09:00:00Z", "Staging", ["challenger"],
                "2026-10-10T09:00:00Z", tags=(("team", "search"), ("ml-service", "ranker-api"))),
    ]
    write_json("mlflow.ndjson", lines, lines=True)


# ---------------------------------------------------------------------------
# CloudWatch GetMetricData (AWS CLI JSON output), SageMaker Invocations, Sum, 1 day


def cloudwatch() -> None:
    doc = {
        "MetricDataResults": [
            {"Id": "fraud", "Label": "fraud-api",
             "Timestamps": ["2026-10-02T00:00:00+00:00", "2026-10-01T00:00:00+00:00"],
             "Values": [30000.0, 20000.0], "StatusCode": "Complete"},
            {"Id": "ranker", "Label": "ranker-api", "Timestamps": ["2026-10-01T00:00:00+00:00"],
             "Values": [5000.0], "StatusCode": "Complete"},
        ],
        "Messages": [],
    }
    write_json("cloudwatch.json", doc)


# ---------------------------------------------------------------------------
# Prometheus HTTP API, query_range of sum by (model_name) (increase(request_predict_seconds_count[1d])), step 1d


def prometheus() -> None:
    doc = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": {"model_name": "ranker"}, "values": [
                    [s("2026-10-02T00:00:00Z"), "1200.4"],   # 1 October
                    [s("2026-10-03T00:00:00Z"), "1300"],     # 2 October
                    [s("2026-11-01T00:00:00Z"), "699.6"]]},  # 31 October
                {"metric": {"model_name": "fraud"}, "values": [
                    [s("2026-10-02T00:00:00Z"), "800"]]},    # 1 October
            ],
        },
    }
    write_json("prometheus.json", doc)


# ---------------------------------------------------------------------------
# Argo CD: kubectl get applications.argoproj.io -n argocd -o json (a List of Applications)


def argocd() -> None:
    def app(name, labels, history):
        return {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "labels": labels,
                         "uid": f"0d5c7b5e-{len(name):04d}-4c1e-9a6e-3b1f2f9c8a71", "generation": 12},
            "spec": {"project": "ml",
                     "source": {"repoURL": "https://github.com/acme/ml-deploy.git", "path": f"apps/{name}",
                                "targetRevision": "main"},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": "serving"},
                     "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}},
            "status": {
                "sync": {"status": "Synced", **{k: v for k, v in history[-1].items() if k in ("revision", "revisions")}},
                "health": {"status": "Healthy"},
                "history": history,
                "reconciledAt": "2026-10-31T12:00:00Z",
                "operationState": {"phase": "Succeeded", "startedAt": history[-1]["deployStartedAt"],
                                   "finishedAt": history[-1]["deployedAt"]},
            },
        }

    def entry(i, revision, started, deployed, *, automated=True):
        return {"id": i, "revision": revision, "deployStartedAt": started, "deployedAt": deployed,
                "source": {"repoURL": "https://github.com/acme/ml-deploy.git", "path": "apps",
                           "targetRevision": "main"},
                "initiatedBy": {"automated": True} if automated else {"username": "admin"}}

    doc = {
        "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
        "items": [
            # fraud-api (label ml-service fraud-api, team risk): synced 28 Sep (September), 2 Oct and 9 Oct
            app("fraud-serving", {"ml-service": "fraud-api", "team": "risk"}, [
                entry(4, "1f0c9e2", "2026-09-28T09:59:30Z", "2026-09-28T10:00:00Z"),
                entry(5, "7a41d3b", "2026-10-02T09:59:10Z", "2026-10-02T10:00:00Z"),
                entry(6, "c93e5aa", "2026-10-09T15:59:40Z", "2026-10-09T16:00:00Z", automated=False)]),
            # ranker (no labels: service is the app name): one sync on 20 Oct, from a multi-source app
            app("ranker", {}, [
                {"id": 1, "revisions": ["3be0a17", "v1.4.0"], "deployStartedAt": "2026-10-20T08:00:00Z",
                 "deployedAt": "2026-10-20T08:01:00Z",
                 "sources": [{"repoURL": "https://github.com/acme/ml-deploy.git", "path": "apps/ranker"},
                             {"repoURL": "https://charts.acme.dev", "chart": "ranker", "targetRevision": "v1.4.0"}],
                 "initiatedBy": {"automated": True}}]),
        ],
    }
    write_json("argocd.json", doc)


# ---------------------------------------------------------------------------
# Vertex AI prediction_count: Cloud Monitoring API v3 projects.timeSeries.list, ALIGN_SUM over 86400s


VERTEX_METRIC = "aiplatform.googleapis.com/prediction/online/prediction_count"


def vertex_series(endpoint: str, model: str, points: list[tuple[str, str, int]]) -> dict:
    return {
        "metric": {"labels": {"deployed_model_id": model}, "type": VERTEX_METRIC},
        "resource": {"type": "aiplatform.googleapis.com/Endpoint",
                     "labels": {"resource_container": "123456789012", "location": "us-central1",
                                "endpoint_id": endpoint}},
        "metricKind": "DELTA", "valueType": "INT64",
        # newest first, as the API lists them; int64Value is a string in JSON
        "points": [{"interval": {"startTime": start, "endTime": end}, "value": {"int64Value": str(n)}}
                   for start, end, n in points],
    }


def vertex() -> None:
    doc = {
        "timeSeries": [
            # endpoint 4801 (two deployed models, split traffic): 1 Oct 1000 + 500, 2 Oct 2000
            vertex_series("4801", "111", [("2026-10-02T00:00:00Z", "2026-10-03T00:00:00Z", 2000),
                                          ("2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", 1000)]),
            vertex_series("4801", "222", [("2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", 500)]),
            # endpoint 5902: 31 Oct 300 (the point ending 1 Nov 00:00 covers 31 October)
            vertex_series("5902", "333", [("2026-10-31T00:00:00Z", "2026-11-01T00:00:00Z", 300)]),
        ],
        "unit": "1",
    }
    write_json("vertex-ai.json", doc)


# ---------------------------------------------------------------------------
# Opsgenie Alert API v2, List alerts (fields of BaseAlert and AlertReport in Opsgenie's OpenAPI spec)


def opsgenie_alerts() -> None:
    def alert(n, priority, status, created, tags, *, ack_ms=None, close_ms=None):
        report = {}
        if ack_ms is not None:
            report.update(ackTime=ack_ms, acknowledgedBy="oncall@acme.dev")
        if close_ms is not None:
            report.update(closeTime=close_ms, closedBy="oncall@acme.dev")
        return {
            "id": f"70413a06-38d6-4c85-92b8-5ebc900d42e{n}", "tinyId": str(1790 + n), "alias": f"drift-check-{n}",
            "message": f"Model alert {n}", "status": status, "acknowledged": ack_ms is not None, "isSeen": True,
            "tags": tags, "snoozed": False, "count": 1, "lastOccurredAt": created, "createdAt": created,
            "updatedAt": created, "source": "prometheus", "owner": "oncall@acme.dev", "priority": priority,
            "responders": [{"type": "team", "id": "8418d193-2dab-4490-b331-8c02cdd196b7"}],
            "integration": {"id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "name": "Prometheus", "type": "Prometheus"},
            **({"report": report} if report else {}),
        }

    doc = {
        "data": [
            # fraud-api, P1: created 5 Oct 10:00, acked after 15 min (900000 ms), closed after 2 h (7200000 ms)
            alert(1, "P1", "closed", "2026-10-05T10:00:00.000Z", ["ml", "service:fraud-api", "team:risk"],
                  ack_ms=900_000, close_ms=7_200_000),
            # ranker-api, P3: created 12 Oct 08:00, closed after 30 min, never acknowledged
            alert(2, "P3", "closed", "2026-10-12T08:00:00.000Z", ["service:ranker-api"], close_ms=1_800_000),
            # no service tag, P5: open since 30 Oct
            alert(3, "P5", "open", "2026-10-30T22:00:00.000Z", ["ml"]),
        ],
        "paging": {"first": "https://api.opsgenie.com/v2/alerts?limit=20&sort=createdAt&offset=0&order=desc",
                   "last": "https://api.opsgenie.com/v2/alerts?limit=20&sort=createdAt&offset=0&order=desc"},
        "took": 0.605, "requestId": "9ae63dd7-ed00-4c81-86f0-c4ffd33142c9",
    }
    write_json("opsgenie-alerts.json", doc)


CUR_LEGACY = """identity/LineItemId identity/TimeInterval bill/InvoiceId bill/InvoicingEntity bill/BillingEntity bill/BillType
bill/PayerAccountId bill/BillingPeriodStartDate bill/BillingPeriodEndDate lineItem/UsageAccountId lineItem/LineItemType
lineItem/UsageStartDate lineItem/UsageEndDate lineItem/ProductCode lineItem/UsageType lineItem/Operation
lineItem/AvailabilityZone lineItem/ResourceId lineItem/UsageAmount lineItem/NormalizationFactor
lineItem/NormalizedUsageAmount lineItem/CurrencyCode lineItem/UnblendedRate lineItem/UnblendedCost lineItem/BlendedRate
lineItem/BlendedCost lineItem/LineItemDescription lineItem/TaxType lineItem/LegalEntity product/ProductName
product/region pricing/term pricing/unit reservation/EffectiveCost savingsPlan/SavingsPlanEffectiveCost
resourceTags/user:ml-model resourceTags/user:ml-service resourceTags/user:team""".split()


def cur_legacy() -> None:
    """The legacy CUR (CSV, category/Name columns, one column per activated tag): the CUR 2.0 sample's story,
    plus a negative usage line (a refund of usage) that nets."""
    def row(day, line_type, cost, *, product, usage_type, resource=None, tags=None, sp_effective=None, description=""):
        start = datetime(2026, 10, day, tzinfo=UTC)
        tags = tags or {}
        return {
            "identity/LineItemId": f"li-{day}-{line_type}-{cost}", "identity/TimeInterval":
                f"{start:%Y-%m-%dT%H:%M:%SZ}/{start + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}",
            "bill/InvoicingEntity": "Amazon Web Services, Inc.", "bill/BillingEntity": "AWS", "bill/BillType": "Anniversary",
            "bill/PayerAccountId": "111122223333", "bill/BillingPeriodStartDate": "2026-10-01T00:00:00Z",
            "bill/BillingPeriodEndDate": "2026-11-01T00:00:00Z", "lineItem/UsageAccountId": "444455556666",
            "lineItem/LineItemType": line_type, "lineItem/UsageStartDate": f"{start:%Y-%m-%dT%H:%M:%SZ}",
            "lineItem/UsageEndDate": f"{start + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}", "lineItem/ProductCode": product,
            "lineItem/UsageType": usage_type, "lineItem/Operation": "RunInstance", "lineItem/ResourceId": resource,
            "lineItem/UsageAmount": 24.0, "lineItem/CurrencyCode": "USD", "lineItem/UnblendedCost": cost,
            "lineItem/BlendedCost": cost, "lineItem/LineItemDescription": description,
            "lineItem/LegalEntity": "Amazon Web Services, Inc.", "product/region": "us-east-1", "pricing/term": "OnDemand",
            "pricing/unit": "Hrs", "savingsPlan/SavingsPlanEffectiveCost": sp_effective,
            "resourceTags/user:ml-model": tags.get("ml-model"), "resourceTags/user:ml-service": tags.get("ml-service"),
            "resourceTags/user:team": tags.get("team"),
        }

    fraud = {"ml-service": "fraud-api", "team": "risk", "ml-model": "fraud-xgb"}
    rows = [
        # 1-2: the fraud endpoint on 1 October: 24.00 on demand + SP-covered hours at their effective 16.00 -> 40.00
        row(1, "Usage", 24.00, product="AmazonSageMaker", usage_type="USE1-Host:ml.m5.xlarge", resource=ENDPOINT,
            tags=fraud, description="$0.24 per Hosting ml.m5.xlarge hour"),
        row(1, "SavingsPlanCoveredUsage", 24.00, product="AmazonSageMaker", usage_type="USE1-Host:ml.m5.xlarge",
            resource=ENDPOINT, tags=fraud, sp_effective=16.00, description="Savings Plan covered Hosting hours"),
        # 3: a refund of 1 October's hosting hours as a negative Usage line: nets -> 40.00 - 4.00 = 36.00
        row(1, "Usage", -4.00, product="AmazonSageMaker", usage_type="USE1-Host:ml.m5.xlarge", resource=ENDPOINT,
            tags=fraud, description="Refund of Hosting hours"),
        # 4-5: dropped: the SP negation of row 2 and the SP recurring fee (amortised into row 2)
        row(1, "SavingsPlanNegation", -24.00, product="AmazonSageMaker", usage_type="USE1-Host:ml.m5.xlarge",
            resource=ENDPOINT, tags=fraud, description="Savings Plan negation"),
        row(1, "SavingsPlanRecurringFee", 30.00, product="ComputeSavingsPlans", usage_type="ComputeSP:1yrNoUpfront",
            description="Savings Plan recurring fee"),
        # 6: a training job, run = the job's name
        row(2, "Usage", 61.20, product="AmazonSageMaker", usage_type="USE1-Train:ml.p3.2xlarge",
            resource=TRAIN + "fraud-train-7", tags=fraud, description="$3.825 per Training ml.p3.2xlarge hour"),
        # 7: dropped: a tax
        row(3, "Tax", 6.50, product="AmazonSageMaker", usage_type="", description="Tax"),
        # 8: an untagged endpoint -> inference, unattributed
        row(3, "Usage", 9.00, product="AmazonSageMaker", usage_type="USE1-Host:ml.m5.large",
            resource="arn:aws:sagemaker:us-east-1:444455556666:endpoint/churn-staging",
            description="$0.115 per Hosting ml.m5.large hour"),
    ]
    write_csv("aws-cur-legacy.csv", CUR_LEGACY, rows)


if __name__ == "__main__":
    for make in (focus, cur2, cur_legacy, gcp, pagerduty, opsgenie, jira, github_deployments, github_actions, gitlab,
                 mlflow, cloudwatch, prometheus, argocd, vertex, opsgenie_alerts):
        make()
    print("wrote", ", ".join(sorted(p.name for p in HERE.iterdir() if p.suffix != ".py")))
