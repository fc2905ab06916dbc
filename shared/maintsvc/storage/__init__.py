"""Storage: the key layout (`keys`), item shapes (`items`), the only boto3 user (`store`)
and the data layer (`access`: one named function per access pattern, every expression).
"""
