'use strict';
// Load scripts used by the scenarios (written for this suite).

/**
 * A ctrl00-style generated data set: 26 letters, an ASCII table filtered with Where, and transactions
 * built by a preceding load that repeats rows with While/IterNo. Twelve data fields in all.
 */
const ctrl00 = `
Letters:
LOAD
  Chr(Ord('A') + RecNo() - 1) AS Alpha,
  RecNo() AS Num
AUTOGENERATE 26;

Codes:
LOAD
  if(RecNo() >= 65 and RecNo() <= 90, RecNo() - 64) AS Num,
  Chr(RecNo()) AS AsciiAlpha,
  RecNo() AS AsciiNum
AUTOGENERATE 255
WHERE (RecNo() >= 32 and RecNo() <= 126) or RecNo() >= 160;

Transactions:
LOAD
  TransID * 10 + IterNo() AS TransLineID,
  TransID,
  Mod(TransID, 26) + 1 AS Num,
  Pick(Ceil(3 * Rand()), 'A', 'B', 'C') AS Dim1,
  Pick(Ceil(6 * Rand()), 'a', 'b', 'c', 'd', 'e', 'f') AS Dim2,
  Pick(Ceil(3 * Rand()), 'X', 'Y', 'Z') AS Dim3,
  Round(1000 * Rand() * Rand() * Rand()) AS Expression1,
  Round(10 * Rand() * Rand() * Rand()) AS Expression2,
  Round(Rand() * Rand(), 0.00001) AS Expression3
WHILE IterNo() <= Lines;
LOAD
  RecNo() AS TransID,
  Ceil(3 * Rand()) AS Lines
AUTOGENERATE 200;

COMMENT FIELD Dim1 WITH 'first of three random dimensions';
`;

const ctrl00Fields = ['Alpha', 'Num', 'AsciiAlpha', 'AsciiNum', 'TransLineID', 'TransID', 'Dim1', 'Dim2',
  'Dim3', 'Expression1', 'Expression2', 'Expression3'];

/** Six sales rows: four regions, three products. */
const sales = `
Sales:
LOAD * INLINE [
Region, Product, Value
North, Apples, 10
North, Pears, 20
South, Apples, 30
South, Plums, 40
East, Pears, 50
West, Plums, 60
];
`;

module.exports = { ctrl00, ctrl00Fields, sales };
