"""index/vectors"""
