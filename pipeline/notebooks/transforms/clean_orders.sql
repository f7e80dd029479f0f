-- Databricks notebook source
-- MAGIC %md
-- MAGIC # Valid orders (SQL view)
-- MAGIC
-- MAGIC A session view of the valid orders of a raw orders table, for ad-hoc SQL. It is a
-- MAGIC simplified reading of the rules in `etl_pipeline.orders` (the library is the reference,
-- MAGIC and the job uses it): no duplicate or currency checks here.

-- COMMAND ----------

CREATE WIDGET TEXT source_table DEFAULT 'main.sales.orders_raw';

-- COMMAND ----------

CREATE OR REPLACE TEMPORARY VIEW valid_orders AS
SELECT
  trim(CAST(order_id AS STRING)) AS order_id,
  trim(CAST(customer_id AS STRING)) AS customer_id,
  try_cast(trim(CAST(amount AS STRING)) AS DECIMAL(18, 2)) AS amount,
  upper(trim(CAST(currency AS STRING))) AS currency,
  try_cast(trim(CAST(order_ts AS STRING)) AS TIMESTAMP) AS order_ts
FROM IDENTIFIER(:source_table)
WHERE trim(CAST(order_id AS STRING)) <> ''
  AND trim(CAST(customer_id AS STRING)) <> ''
  AND try_cast(trim(CAST(amount AS STRING)) AS DECIMAL(18, 2)) > 0
  AND upper(trim(CAST(currency AS STRING))) RLIKE '^[A-Z]{3}$'
  AND try_cast(trim(CAST(order_ts AS STRING)) AS TIMESTAMP) IS NOT NULL;

-- COMMAND ----------

SELECT
  to_date(order_ts) AS order_date,
  currency,
  count(*) AS orders,
  count(DISTINCT customer_id) AS customers,
  sum(amount) AS total_amount
FROM valid_orders
GROUP BY ALL
ORDER BY order_date, currency;
