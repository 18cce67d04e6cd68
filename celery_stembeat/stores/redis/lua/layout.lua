-- The entry hash layout every script that reads or writes entries shares; codec.py mirrors it
-- (CHUNK_BYTES, ROW_FIELDS, ROW_CHUNKED) to read the rows these scripts return.

-- Longest hash value Redis keeps in a listpack by default (hash-max-listpack-value).
local CHUNK = 64

-- The hash fields a script returns for an entry, in this order, as a JSON row
-- {id, ROW_FIELDS..., definition, spec, last error, last task error} (false where a field is
-- absent).
local ROW_FIELDS = {
  'e', 'v', 'n', 'ls', 'lr', 'ca', 'ua', 'tc', 'fc', 'cf', 'ld', 'dm', 'dx',
  'lo', 'lf', 'sc', 'tf', 'tk', 'rm', 'rx',
}
-- Chunked values a row carries after ROW_FIELDS, with how many chunks HMGET prefetches.
local CHUNKED = {{'d', 8}, {'s', 2}, {'le', 2}, {'te', 2}}
-- ROW_FIELDS, then each chunked value's prefetched chunks
local READ_FIELDS = {
  'e', 'v', 'n', 'ls', 'lr', 'ca', 'ua', 'tc', 'fc', 'cf', 'ld', 'dm', 'dx',
  'lo', 'lf', 'sc', 'tf', 'tk', 'rm', 'rx',
  'd0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7', 's0', 's1', 'le0', 'le1', 'te0', 'te1',
}
